package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"certd/issuer"
)

// cmdCredential writes a certificate's holder credential (SD-JWT VC), or a
// presentation of it with chosen disclosures, for an operator who hands it
// to the holder. A certificate issued before holder credentials existed
// gets its credential now.
func cmdCredential(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("credential", false)
	path := f.String("out", "", "output file (default NUMBER.sd-jwt); - for standard output")
	disclose := f.String("disclose", "", "make a presentation that discloses only these claims, comma-separated: name, documentHash, birthDate, photoDigest; \"none\" for none (default: the whole credential, every disclosure)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: certd credential NUMBER [--disclose name,documentHash,birthDate,photoDigest|none] [--out FILE|-]"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	number := strings.ToUpper(strings.TrimSpace(pos[0]))
	cred, err := e.svc.HolderCredential(ctx, authorityActor(), number)
	if err != nil {
		return err
	}
	if *disclose != "" {
		var claims []string
		if *disclose != "none" {
			claims = strings.Split(*disclose, ",")
		}
		if cred, err = issuer.PresentCredential(cred, claims...); err != nil {
			return err
		}
	}
	if *path == "-" {
		_, err := fmt.Fprintln(out, string(cred))
		return err
	}
	if *path == "" {
		*path = issuer.CredentialFile(number)
	}
	if err := os.WriteFile(*path, append(cred, '\n'), 0o600); err != nil { // #nosec G304 G703 -- a path the operator gave on the command line
		return err
	}
	fmt.Fprintf(out, "已写出持证人凭证 / holder credential written (%s): %s\n", issuer.CredentialContentType, *path)
	return nil
}
