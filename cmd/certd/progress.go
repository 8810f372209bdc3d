package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progressOut is where long steps (issue, render, export) say how far they
// are: standard error, so that standard output stays the report and --json
// stays JSON.
var progressOut io.Writer = os.Stderr

// Plain progress lines (not a terminal: a log file, CI, a pipe) come every
// plainEvery; a terminal's bar is redrawn at most every ttyEvery.
var (
	plainEvery = 5 * time.Second
	ttyEvery   = 100 * time.Millisecond
)

// progress reports one long step: on a terminal a bar redrawn in place
// with the rate and the time left; otherwise a plain line now and then,
// which a log keeps readable. A zero total means the total is not known
// (an export): then the count and the rate.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	every time.Duration

	mu      sync.Mutex
	start   time.Time
	last    time.Time
	first   int // done at the first update: a resumed job's rate counts only this run
	done    int
	total   int
	started bool
	drawn   bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newProgress(label string) *progress {
	p := &progress{w: progressOut, label: label, tty: isTerminal(progressOut), start: time.Now()}
	p.every = plainEvery
	if p.tty {
		p.every = ttyEvery
	}
	return p
}

// set records that done of total are done, and shows it when it is time.
func (p *progress) set(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.done, p.total = done, total
	if !p.started {
		// The first update is shown at once: the step has begun.
		p.started, p.first, p.start, p.last = true, done, now, now
		p.draw(now)
		return
	}
	if now.Sub(p.last) < p.every && (total == 0 || done < total) {
		return
	}
	p.last = now
	p.draw(now)
}

// end shows the final state and ends the terminal's line.
func (p *progress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		return
	}
	now := time.Now()
	if p.tty {
		p.draw(now)
		fmt.Fprintln(p.w)
		return
	}
	if p.drawn || now.Sub(p.start) >= p.every {
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	p.drawn = true
	elapsed := now.Sub(p.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(p.done-p.first) / s
	}
	left := "?"
	if p.total > 0 && rate > 0 {
		left = (time.Duration(float64(p.total-p.done)/rate) * time.Second).Round(time.Second).String()
	}
	if p.total > 0 && p.done >= p.total {
		left = "0s"
	}
	if p.tty {
		if p.total == 0 {
			fmt.Fprintf(p.w, "\r\033[K%s  %d  %.0f/s  %s", p.label, p.done, rate, elapsed.Round(time.Second))
			return
		}
		const width = 24
		fill := width * p.done / p.total
		fmt.Fprintf(p.w, "\r\033[K%s [%s%s] %3d%%  %d/%d  %.0f/s  剩余 left %s", p.label,
			strings.Repeat("█", fill), strings.Repeat("░", width-fill), 100*p.done/p.total, p.done, p.total, rate, left)
		return
	}
	if p.total == 0 {
		fmt.Fprintf(p.w, "%s: %d, %.0f/s, %s\n", p.label, p.done, rate, elapsed.Round(time.Second))
		return
	}
	fmt.Fprintf(p.w, "%s: %d/%d (%d%%), %.0f/s, 剩余约 about %s left\n", p.label, p.done, p.total, 100*p.done/p.total, rate, left)
}

// note says, on its own line, what a step without a count is doing.
func (p *progress) note(zh, en string) {
	fmt.Fprintf(p.w, "%s / %s\n", zh, en)
}
