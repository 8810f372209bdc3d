package roster

// Sheet is an upload reduced to cell text, for showing the office its own
// rows next to the problems Parse found in them.
type Sheet struct {
	HeaderRow int        // Excel row number of the header
	Header    []string   // header texts as written
	Rows      []SheetRow // data rows after the header, blank rows left out
}

// SheetRow is one data row: its Excel row number and its cells.
type SheetRow struct {
	Row   int
	Cells []string
}

// Cells reads an upload the way Parse does (same formats, same limits) and
// returns its header and data rows as text.
func Cells(data []byte, filename string) (*Sheet, error) {
	t, closeFn, err := load(data, filename)
	if closeFn != nil {
		defer closeFn()
	}
	if err != nil {
		return nil, err
	}
	s := &Sheet{HeaderRow: t.hdr.row + 1, Header: t.hdr.texts}
	for i := t.hdr.row + 1; i < len(t.rows); i++ {
		if t.rows[i] == nil {
			continue
		}
		blank := true
		for _, c := range t.rows[i] {
			if c != "" {
				blank = false
				break
			}
		}
		if !blank {
			s.Rows = append(s.Rows, SheetRow{Row: i + 1, Cells: t.rows[i]})
		}
	}
	return s, nil
}
