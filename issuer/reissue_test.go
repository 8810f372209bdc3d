package issuer_test

import (
	"testing"

	"certd/issuer"
)

// TestReissueCorrectsOccupationAndDocType: a correction may change the
// occupation, the 工种 and the document type, each checked as a roster row
// is, scope included; a preview says what would change and writes nothing;
// a correction that changes nothing is refused. Before, a correction could
// not name another occupation at all (issue 13 point 12).
func TestReissueCorrectsOccupationAndDocType(t *testing.T) {
	spec := func(s string) *string { return &s }
	each(t, func(t *testing.T, f *fixture) {
		rep := f.issue(clerk, roster(4))
		certs := rep.Issued
		count := func() int {
			all, err := f.svc.Certificates(f.ctx, clerk, issuer.CertificateFilter{})
			if err != nil {
				t.Fatal(err)
			}
			return len(all)
		}
		before := count()

		// The preview: what changes, nothing written.
		p, err := f.svc.PreviewReissue(f.ctx, clerk, certs[0].Number, issuer.Correction{Occupation: "4-01-06-01", Reason: "职业录入错误"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) == 0 || p.Changes[0].Field != "occupation" || p.Changes[0].New != "电子商务师 4-01-06-01" || p.New.Occupation != "4-01-06-01" || p.Old.Number != certs[0].Number {
			t.Fatalf("preview: %+v", p.Changes)
		}
		if got, _ := f.svc.Certificate(f.ctx, clerk, certs[0].Number); got.Status != issuer.Valid || count() != before {
			t.Fatal("the preview changed something")
		}

		// Corrections a roster row would accept.
		for i, fix := range []issuer.Correction{
			{Occupation: "4-01-06-01", Reason: "职业录入错误"},
			{Occupation: "6-18-02-04", Specialty: spec("电焊工"), Reason: "职业和工种录入错误"},
			{DocType: "护照", DocNumber: "E12345678", Reason: "证件类型有误"},
		} {
			repl, err := f.svc.Reissue(f.ctx, clerk, certs[i].Number, fix)
			if err != nil {
				t.Fatalf("correction %d: %v", i, err)
			}
			if repl.Supersedes != certs[i].Number {
				t.Fatalf("correction %d: %+v", i, repl)
			}
			switch i {
			case 0:
				if repl.Occupation != "4-01-06-01" || repl.OccupationName != "电子商务师" {
					t.Errorf("occupation: %s %s", repl.Occupation, repl.OccupationName)
				}
			case 1:
				if repl.Occupation != "6-18-02-04" || repl.Specialty != "电焊工" {
					t.Errorf("工种: %s %s", repl.Occupation, repl.Specialty)
				}
			case 2:
				if repl.Holder.DocType != "passport" || repl.Holder.DocNumber != "E12345678" {
					t.Errorf("document: %s %s", repl.Holder.DocType, repl.Holder.DocNumber)
				}
			}
		}

		// Corrections a roster row would refuse, the scope's included.
		n := certs[3].Number
		for _, tc := range []struct {
			name string
			fix  issuer.Correction
			code string
		}{
			{"occupation not in the catalogue", issuer.Correction{Occupation: "4-04-05-99"}, "occupation_unknown"},
			{"occupation outside the scope", issuer.Correction{Occupation: "3-01-02-06"}, "out_of_scope"},
			{"工种 outside the scope", issuer.Correction{Occupation: "6-18-02-04", Specialty: spec("气焊工")}, "out_of_scope"},
			{"工种 the occupation has not", issuer.Correction{Specialty: spec("电焊工")}, "specialty_unknown"},
			{"level outside the scope", issuer.Correction{Occupation: "4-01-06-01", Level: "4"}, "out_of_scope"},
			{"document type unknown", issuer.Correction{DocType: "驾驶证"}, ""},
			{"passport number under a resident ID", issuer.Correction{DocNumber: "E12345678"}, ""},
			{"nothing changes", issuer.Correction{Name: certs[3].Holder.Name, Reason: "无"}, "no_change"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, try := range []func() error{
					func() error { _, err := f.svc.PreviewReissue(f.ctx, clerk, n, tc.fix); return err },
					func() error { _, err := f.svc.Reissue(f.ctx, clerk, n, tc.fix); return err },
				} {
					err := try()
					e, ok := issuer.AsError(err)
					if !ok || e.Kind != issuer.ErrInvalid || (tc.code != "" && e.Code != tc.code) {
						t.Errorf("err = %v, want %s", err, tc.code)
					}
				}
			})
		}
		if got, _ := f.svc.Certificate(f.ctx, clerk, n); got.Status != issuer.Valid {
			t.Fatalf("refused corrections left %s", got.Status)
		}
		if count() != before+3 {
			t.Fatalf("%d certificates, want %d", count(), before+3)
		}
		// Another college can neither preview nor reissue.
		intruder := issuer.Actor{Name: "test:intruder", InstitutionID: "other"}
		if _, err := f.svc.PreviewReissue(f.ctx, intruder, n, issuer.Correction{Name: "王五"}); !issuer.Is(err, issuer.ErrNotFound) {
			t.Errorf("preview of another college's certificate: %v", err)
		}
	})
}

// TestReissuePrintsThroughItsJob: the corrected certificate is recorded
// with a print job, as a batch is, and printed through it; its PDF is
// stored with its hash. Before, it was rendered on the side, with no job
// to finish an interrupted printing.
func TestReissuePrintsThroughItsJob(t *testing.T) {
	p := newPrinter(t)
	each(t, func(t *testing.T, f *fixture) {
		f.svc.Printer = p
		old := f.issue(clerk, roster(1)).Issued[0]
		repl, err := f.svc.Reissue(f.ctx, clerk, old.Number, issuer.Correction{Name: "欧阳娜", Reason: "姓名录入错误"})
		if err != nil {
			t.Fatal(err)
		}
		job, err := f.store.PrintJob(f.ctx, repl.BatchID)
		if err != nil {
			t.Fatalf("no print job for the correction: %v", err)
		}
		if job.Items != 1 || job.Pending != 0 || job.DoneAt.IsZero() {
			t.Errorf("print job %+v", job)
		}
		stored, err := f.store.Certificate(f.ctx, repl.Number)
		if err != nil || stored.PDFSHA256 == "" || stored.PDFSHA256 != repl.PDFSHA256 {
			t.Errorf("stored PDF hash %q, returned %q: %v", stored.PDFSHA256, repl.PDFSHA256, err)
		}
	})
}
