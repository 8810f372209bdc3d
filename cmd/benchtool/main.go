// Command benchtool supports the public verification benchmarks recorded
// in docs/benchmarks.md (see run.sh beside it):
//
//	benchtool bare -addr 127.0.0.1:8181          a bare Fiber handler returning a fixed 2 KB body
//	benchtool seed -db URL -n 100000             an authority, the college "bench" and n certificates
//	benchtool attack -url URL -rate 10 -d 30s    the costliest public inputs at a fixed rate (attack.sh)
//	benchtool share -db URL -number N            a 30-day share link of certificate N; prints its token (share.sh)
//
// It is a tool, not part of certd.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/keys"
	"certd/issuer/store/postgres"
	"certd/verify/web"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: benchtool bare|seed ...")
	}
	switch os.Args[1] {
	case "bare":
		bare(os.Args[2:])
	case "seed":
		seed(os.Args[2:])
	case "profile":
		profile(os.Args[2:])
	case "attack":
		attack(os.Args[2:])
	case "share":
		share(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func bare(args []string) {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8181", "listen address")
	_ = fs.Parse(args)
	body := bytes.Repeat([]byte("x"), 2048)
	// Same server settings as certd's app, so that only the handler differs.
	app := fiber.New(fiber.Config{Immutable: true, DisableStartupMessage: true})
	app.Get("/bare", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.Send(body)
	})
	log.Fatal(app.Listen(*addr))
}

// profile serves the verification routes like certd serve does and writes
// a CPU profile of the first seconds, to see where a request's time goes.
func profile(args []string) {
	fs := flag.NewFlagSet("profile", flag.ExitOnError)
	db := fs.String("db", "", "PostgreSQL URL")
	redisURL := fs.String("redis", "", "Redis URL")
	addr := fs.String("addr", "127.0.0.1:8182", "listen address")
	out := fs.String("cpuprofile", "/tmp/verify.pprof", "profile file")
	secs := fs.Int("seconds", 8, "profile duration")
	_ = fs.Parse(args)
	st, err := postgres.Open(context.Background(), *db)
	if err != nil {
		log.Fatal(err)
	}
	app := fiber.New(fiber.Config{Immutable: true, DisableStartupMessage: true, BodyLimit: web.MaxBody, WriteBufferSize: 16 << 10})
	lg := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if _, err := web.Mount(app, web.Deps{Store: st, RedisURL: *redisURL, PublicURL: "http://" + *addr, Log: lg, RateLimit: -1, AccessLog: os.Stderr}); err != nil {
		log.Fatal(err)
	}
	f, _ := os.Create(*out)
	_ = pprof.StartCPUProfile(f)
	go func() {
		time.Sleep(time.Duration(*secs) * time.Second)
		pprof.StopCPUProfile()
		_ = f.Close()
		if m, err := os.Create(*out + ".allocs"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(m, 0)
			_ = m.Close()
		}
		fmt.Fprintln(os.Stderr, "profile written")
	}()
	log.Fatal(app.Listen(*addr))
}

var surnames = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗")
var given = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红")

func seed(args []string) {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	db := fs.String("db", "", "PostgreSQL URL")
	n := fs.Int("n", 100000, "certificates to issue")
	_ = fs.Parse(args)
	ctx := context.Background()
	st, err := postgres.Open(ctx, *db)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	kek, _ := keys.NewKEK(bytes.Repeat([]byte{9}, 32))
	svc := issuer.New(st, kek)
	svc.Log = slog.New(slog.DiscardHandler)
	actor := issuer.Actor{Name: "bench", Authority: true}
	if _, err := svc.Init(ctx, actor, "吉林省人力资源和社会保障厅"); err != nil {
		log.Fatal(err)
	}
	if _, err := svc.AddInstitution(ctx, actor, issuer.InstitutionSpec{
		ID: "bench", Name: "吉林基准职业技术学院", USCC: "12220000MB0123457W", Prefix: "Y000022000001",
		FilingNo: "吉人社认备〔2026〕099号", ValidFrom: "2026-01-01",
		Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"5", "4", "3"}}},
	}); err != nil {
		log.Fatal(err)
	}
	day := issuer.Day(time.Now()).AddDate(0, 0, -3).Format(issuer.DateLayout)
	start := time.Now()
	for done := 0; done < *n; {
		batch := min(10000, *n-done)
		var b strings.Builder
		b.WriteString("姓名,证件类型,证件号码,职业编码,工种,等级,考生类别,学号,专业,考核日期\n")
		for i := done; i < done+batch; i++ {
			// Distinct ID numbers: birth dates and sequence numbers spread over i.
			first17 := fmt.Sprintf("2201%02d%04d%02d%02d%03d", i%100, 1990+i/100000%20, 1+i/1000%12, 1+i/12000%28, i%1000)
			name := string([]rune{surnames[i%len(surnames)], given[i/7%len(given)], given[i/3%len(given)]})
			fmt.Fprintf(&b, "%s,居民身份证,%s,4-04-05-05,,三级,毕业年度学生,B%07d,人工智能技术应用,%s\n", name, ident.CompleteResidentID(first17), i, day)
		}
		rep, err := svc.Issue(ctx, actor, issuer.IssueRequest{InstitutionID: "bench", Roster: []byte(b.String()), Filename: fmt.Sprintf("bench-%d.csv", done)})
		if err != nil {
			log.Fatal(err)
		}
		if len(rep.Problems) > 0 {
			log.Fatalf("problems: %+v", rep.Problems[:min(3, len(rep.Problems))])
		}
		done += batch
		fmt.Fprintf(os.Stderr, "issued %d (%v)\n", done, time.Since(start).Round(time.Second))
	}
}

// share makes a share link of one seeded certificate, as its holder would,
// and prints the token.
func share(args []string) {
	fs := flag.NewFlagSet("share", flag.ExitOnError)
	db := fs.String("db", "", "PostgreSQL URL")
	number := fs.String("number", "Y000022000001263000001", "certificate number")
	_ = fs.Parse(args)
	ctx := context.Background()
	st, err := postgres.Open(ctx, *db)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	kek, _ := keys.NewKEK(bytes.Repeat([]byte{9}, 32))
	svc := issuer.New(st, kek)
	svc.Log = slog.New(slog.DiscardHandler)
	tok, _, err := svc.CreateShareLink(ctx, issuer.HolderActor(*number), *number, issuer.ShareSpec{Label: "bench", Days: 30, Reveal: issuer.RevealMasked})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok)
}
