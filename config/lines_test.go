package config

import "testing"

func TestIndexLines(t *testing.T) {
	ix := indexLines(src(
		`# comment [not.a.table]`, // 1
		`top = 1 # trailing`,      // 2
		``,                        // 3
		`[daemon]`,                // 4
		`  listen = "a # b"`,      // 5
		`state_dir = """`,         // 6
		`fake = "inside a multi-line string"`,
		`"""`,                     // 8
		`inbox_dir = '/x'`,        // 9
		`[[slot]]`,                // 10
		`name = "a"`,              // 11
		`notify = [`,              // 12
		`  "ops", # fake = 1`,     // 13
		`  "x]",`,                 // 14
		`]`,                       // 15
		`max_age = "1d"`,          // 16
		`[ slot . "sub table" ]`,  // 17
		`k = 1`,                   // 18
		`[[slot]]`,                // 19
		`"quoted.key" = 1`,        // 20
		`a.b.c = 2`,               // 21
		`lit = '''`,               // 22
		`x = '' still inside`,     // 23
		`'''`,                     // 24
		`after = """a""""`,        // 25
		`inline = { y = 1, z = [`, // 26
		`  2 ] }`,                 // 27
		`last = true`,             // 28
	))
	tests := []struct {
		path []string
		want int
	}{
		{[]string{"top"}, 2},
		{[]string{"daemon"}, 4},
		{[]string{"daemon", "listen"}, 5},
		{[]string{"daemon", "state_dir"}, 6},
		{[]string{"daemon", "fake"}, 4}, // not a key: falls back to the table
		{[]string{"daemon", "inbox_dir"}, 9},
		{[]string{"slot"}, 10},
		{[]string{"slot", elem(0)}, 10},
		{[]string{"slot", elem(0), "name"}, 11},
		{[]string{"slot", elem(0), "notify"}, 12},
		{[]string{"slot", elem(0), "fake"}, 10},
		{[]string{"slot", elem(0), "max_age"}, 16},
		{[]string{"slot", elem(0), "sub table"}, 17},
		{[]string{"slot", elem(0), "sub table", "k"}, 18},
		{[]string{"slot", elem(1)}, 19},
		{[]string{"slot", elem(1), "quoted.key"}, 20},
		{[]string{"slot", elem(1), "a"}, 21},
		{[]string{"slot", elem(1), "a", "b", "c"}, 21},
		{[]string{"slot", elem(1), "x"}, 19},
		{[]string{"slot", elem(1), "after"}, 25},
		{[]string{"slot", elem(1), "inline"}, 26},
		{[]string{"slot", elem(1), "inline", "y"}, 26},
		{[]string{"slot", elem(1), "last"}, 28},
		{[]string{"slot", elem(2), "name"}, 10}, // no such element: falls back to "slot"
		{[]string{"nothing"}, 0},
	}
	for _, tt := range tests {
		if got := ix.line(tt.path...); got != tt.want {
			t.Errorf("line(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
}

func TestIndexLines_CRLFAndBOM(t *testing.T) {
	ix := indexLines("\ufeff[kpay]\r\ntimeout = \"1s\"\r\n\r\n[[slot]]\r\nname = \"a\"\r\n")
	for path, want := range map[string]int{"timeout": 2, "name": 5} {
		p := []string{"kpay", path}
		if path == "name" {
			p = []string{"slot", elem(0), path}
		}
		if got := ix.line(p...); got != want {
			t.Errorf("line(%q) = %d, want %d", p, got, want)
		}
	}
}
