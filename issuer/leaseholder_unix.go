//go:build unix

package issuer

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// leaseHolderGone reports whether the process named owner (see instance:
// host/pid/random) is known to be dead: it ran on this host and no process
// has its pid any more. Then its lease need not run out before the job is
// taken over: the same command run again after a kill finishes the job at
// once. Anything uncertain says no, and the lease runs out by itself:
// another host, a pid now used by another process, and this process's own
// pid (another Service of this process, or a restarted container's
// previous process: the two cannot be told apart).
func (s *Service) leaseHolderGone(owner string) bool {
	host, rest, ok := strings.Cut(owner, "/")
	if !ok || owner == s.instance() {
		return false
	}
	pidStr, _, _ := strings.Cut(rest, "/")
	pid, err := strconv.Atoi(pidStr)
	if me, _ := os.Hostname(); err != nil || pid <= 0 || host != me {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
