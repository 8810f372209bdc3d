package tlog

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func seededKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed
	}
	return ed25519.NewKeyFromSeed(s)
}

func logVKey(t testing.TB, origin string, seed byte) string {
	t.Helper()
	v, err := VerifierKey(origin, seededKey(seed).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func witnessVKey(t testing.TB, name string, seed byte) string {
	t.Helper()
	v, err := CosignerKey(name, seededKey(seed).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// examplePolicy is the spec's two-level example, with comments and tabs.
func examplePolicy(t testing.TB) string {
	w := func(name string, seed byte) string { return witnessVKey(t, name, seed) }
	return fmt.Sprintf(`# certd trust policy
log %s https://certd.example/log/

witness X1 %s https://x1.example/
witness X2 %s
	witness X3 %s
group X-witnesses 2 X1 X2 X3

witness Y1 %s
witness Y2 %s
witness Y3 %s
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`, logVKey(t, "certd.example/log", 1), w("x1.example", 11), w("x2.example", 12), w("x3.example", 13), w("y1.example", 21), w("y2.example", 22), w("y3.example", 23))
}

func TestParsePolicyExample(t *testing.T) {
	p, err := ParsePolicy([]byte(examplePolicy(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Logs) != 1 || len(p.Witnesses) != 6 || len(p.Groups) != 3 || p.Quorum != "X-and-Y" {
		t.Fatalf("parsed %+v", p)
	}
	if p.Groups[1].Threshold != 1 || p.Groups[2].Threshold != 2 {
		t.Fatalf("any/all thresholds: %+v", p.Groups)
	}
	set := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m[n] = true
		}
		return m
	}
	for _, tc := range []struct {
		cosigned []string
		want     bool
	}{
		{nil, false},
		{[]string{"X1", "X2"}, false},
		{[]string{"X1", "Y1"}, false},
		{[]string{"X1", "X2", "Y3"}, true},
		{[]string{"X1", "X3", "Y1", "Y2"}, true},
		{[]string{"Y1", "Y2", "Y3"}, false},
	} {
		if got := p.satisfied(set(tc.cosigned...)); got != tc.want {
			t.Errorf("satisfied(%v) = %v, want %v", tc.cosigned, got, tc.want)
		}
	}
	// The canonical text reads back to the same policy.
	text, err := p.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParsePolicy(text)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, again) {
		t.Fatalf("round trip:\n%+v\n%+v", p, again)
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	lk := logVKey(t, "certd.example/log", 1)
	w1, w2 := witnessVKey(t, "w1.example", 11), witnessVKey(t, "w2.example", 12)
	for name, src := range map[string]string{
		"no quorum":                 "log " + lk + "\n",
		"two quorums":               "quorum none\nquorum none\n",
		"quorum before its witness": "quorum w1\nwitness w1 " + w1 + "\n",
		"group before its member":   "group g 1 w1\nwitness w1 " + w1 + "\nquorum g\n",
		"undefined quorum":          "witness w1 " + w1 + "\nquorum w2\n",
		"threshold zero":            "witness w1 " + w1 + "\ngroup g 0 w1\nquorum g\n",
		"threshold above members":   "witness w1 " + w1 + "\ngroup g 2 w1\nquorum g\n",
		"threshold leading zero":    "witness w1 " + w1 + "\ngroup g 01 w1\nquorum g\n",
		"member twice":              "witness w1 " + w1 + "\ngroup g 1 w1 w1\nquorum g\n",
		"member of two groups":      "witness w1 " + w1 + "\ngroup g 1 w1\ngroup h 1 w1\nquorum g\n",
		"none as member":            "witness w1 " + w1 + "\ngroup g 1 none\nquorum g\n",
		"name defined twice":        "witness w1 " + w1 + "\nwitness w1 " + w2 + "\nquorum w1\n",
		"keyword as name":           "witness any " + w1 + "\nquorum any\n",
		"same key twice":            "witness w1 " + w1 + "\nwitness w2 " + w1 + "\nquorum w1\n",
		"log listed twice":          "log " + lk + "\nlog " + lk + "\nquorum none\n",
		"witness with a log key":    "witness w1 " + logVKey(t, "w1.example", 11) + "\nquorum w1\n",
		"log with a witness key":    "log " + w1 + "\nquorum none\n",
		"mangled vkey":              "log " + lk[:len(lk)-4] + "\nquorum none\n",
		"wrong key hash":            "witness w1 " + wrongHash(w1) + "\nquorum w1\n",
		"url with fragment":         "witness w1 " + w1 + " https://w1.example/#x\nquorum w1\n",
		"url without scheme":        "witness w1 " + w1 + " w1.example\nquorum w1\n",
		"unknown keyword":           "monitor m " + w1 + "\nquorum none\n",
		"carriage return":           "quorum none\r\n",
		"NUL":                       "quorum none\x00\n",
		"too many fields":           "witness w1 " + w1 + " https://a.example/ extra\nquorum w1\n",
		"too large":                 "quorum none\n" + strings.Repeat("#", maxPolicySize),
	} {
		t.Run(name, func(t *testing.T) {
			if p, err := ParsePolicy([]byte(src)); !errors.Is(err, ErrMalformedPolicy) {
				t.Fatalf("accepted %q as %+v (err %v)", src, p, err)
			}
		})
	}
}

func TestPolicyTesseraText(t *testing.T) {
	p := &Policy{
		Witnesses: []PolicyWitness{{Name: "w1", VKey: witnessVKey(t, "w1.example", 11), URL: "http://127.0.0.1:1/"}, {Name: "w2", VKey: witnessVKey(t, "w2.example", 12)}},
		Quorum:    "w1",
	}
	if _, err := p.tesseraText(); !errors.Is(err, ErrMalformedPolicy) {
		t.Fatalf("a witness without URL passed to the log: %v", err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(examplePolicy(f)))
	f.Add([]byte("quorum none\n"))
	f.Add([]byte("witness a b\ngroup g all a\nquorum g\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		text, err := p.MarshalText()
		if err != nil {
			t.Fatalf("parsed policy does not marshal: %v", err)
		}
		again, err := ParsePolicy(text)
		if err != nil {
			t.Fatalf("marshalled policy does not parse: %v\n%s", err, text)
		}
		if text2, _ := again.MarshalText(); string(text2) != string(text) {
			t.Fatalf("not stable:\n%s\n%s", text, text2)
		}
	})
}

func wrongHash(vkey string) string {
	parts := strings.SplitN(vkey, "+", 3)
	return parts[0] + "+00000000+" + parts[2]
}
