package main

import (
	"archive/zip"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"
)

// attack plays the anonymous client of docs/security.md's threat model: at
// a fixed rate (the public rate limit, 600 a minute, by default) it sends
// the costliest inputs the public side accepts, from one client address
// (X-Forwarded-For, so certd must trust 127.0.0.1 as a proxy), until
// interrupted or -d has passed, and prints what it got back. attack.sh runs
// it beside wrk to see what it costs the cached verification next to it.
//
// The inputs are the ones issue 10 found expensive, each at the largest size
// certd accepts:
//   - pdf: 8 MiB of repeated PDF delimiters (<<, stream, eyJ) as a "PDF";
//   - xlsx: a 60 MB cell of one repeated character, zipped to about 60 KB,
//     uploaded to /bulk;
//   - body: 10 MB posted to the console's login page without a session;
//   - bulk: 1,000 numbers nobody has looked up (every one a database read),
//     with names to confirm.
func attack(args []string) {
	fs := flag.NewFlagSet("attack", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:8180", "certd's base address")
	rate := fs.Float64("rate", 10, "requests per second (600 a minute is the default public limit)")
	dur := fs.Duration("d", 30*time.Second, "how long")
	client := fs.String("client", "198.51.100.66", "the client address sent in X-Forwarded-For")
	first := fs.Int("first", 300001, "first serial of the bulk numbers (pick ones no other run reads)")
	_ = fs.Parse(args)

	inputs := attackInputs(*first)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()

	hc := &http.Client{Timeout: 30 * time.Second}
	var mu sync.Mutex
	got := map[string]map[int]int{}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			report(got, time.Since(start))
			return
		case <-tick.C:
		}
		in := inputs[i%len(inputs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, *base+in.path, bytes.NewReader(in.body))
			if err != nil {
				log.Fatal(err)
			}
			req.Header.Set("Content-Type", in.ctype)
			req.Header.Set("X-Forwarded-For", *client)
			code := 0
			if resp, err := hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			if got[in.name] == nil {
				got[in.name] = map[int]int{}
			}
			got[in.name][code]++
			mu.Unlock()
		}()
	}
}

type attackInput struct {
	name, path, ctype string
	body              []byte
}

func attackInputs(first int) []attackInput {
	var pdf bytes.Buffer
	pdf.WriteString("%PDF-1.7\n")
	for pdf.Len() < 8<<20-64 {
		pdf.WriteString("<<<<>>>> stream\neyJeyJeyJ.")
	}

	var x bytes.Buffer
	zw := zip.NewWriter(&x)
	add := func(name, s string) {
		w, err := zw.Create(name)
		if err != nil {
			log.Fatal(err)
		}
		_, _ = io.WriteString(w, s)
	}
	add("[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`)
	add("_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`)
	add("xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`)
	add("xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`)
	add("xl/worksheets/sheet1.xml", `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>证书编号</t></is></c><c r="B1" t="inlineStr"><is><t>姓名</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>`+strings.Repeat("A", 60<<20)+`</t></is></c></row></sheetData></worksheet>`)
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, err := mw.CreateFormFile("file", "list.xlsx")
	if err != nil {
		log.Fatal(err)
	}
	_, _ = fw.Write(x.Bytes())
	_ = mw.Close()

	var items strings.Builder
	items.WriteString(`{"items":[`)
	for i := range 1000 {
		if i > 0 {
			items.WriteByte(',')
		}
		fmt.Fprintf(&items, `{"number":"Y000022000001263%06d","name":"张三"}`, first+i)
	}
	items.WriteString(`]}`)

	return []attackInput{
		{"pdf", "/api/v1/verify", "application/pdf", pdf.Bytes()},
		{"xlsx", "/bulk", mw.FormDataContentType(), form.Bytes()},
		{"body", "/console/login", "application/x-www-form-urlencoded", bytes.Repeat([]byte("a"), 10<<20)},
		{"bulk", "/api/v1/verify", "application/json", []byte(items.String())},
	}
}

func report(got map[string]map[int]int, d time.Duration) {
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Printf("attack: %s\n", d.Round(time.Second))
	for _, n := range names {
		var parts []string
		for code, k := range got[n] {
			what := fmt.Sprint(code)
			if code == 0 { // certd answered before reading the body and closed, or -d ended the request
				what = "closed"
			}
			parts = append(parts, fmt.Sprintf("%d×%s", k, what))
		}
		sort.Strings(parts)
		fmt.Printf("  %-5s %s\n", n, strings.Join(parts, " "))
	}
}
