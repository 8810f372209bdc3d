package issuer

import "strings"

// DefuseFormula returns s as it may stand in a CSV cell. Excel, WPS and
// LibreOffice take a CSV cell that starts with =, +, -, @, a tab or a
// carriage return for a formula, and a formula can reach the network or run
// commands (DDE) when the office opens the file; the values certd writes
// come from rosters and forms, so any of them may be such a payload. A
// leading apostrophe makes the cell text. A value made only of dashes (the
// ledger's "--" for no 工种) cannot compute anything and is left alone.
//
// It is the one defence for every CSV certd writes. XLSX cells need none:
// certd writes them as typed text (inline strings), which no spreadsheet
// evaluates, so they keep the value exactly as written.
func DefuseFormula(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) || strings.Trim(s, "-") == "" {
		return s
	}
	return "'" + s
}
