package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationForm is what every duration error tells the operator to write.
const durationForm = `use whole numbers with the units d, h, m, s, largest first, e.g. "90d", "1d12h", "1h30m" or "30s"`

// units in the order they must appear, with their lengths. Days are
// accepted because key ages are counted in days (DESIGN §7) and
// time.ParseDuration has no unit for them.
var units = []struct {
	sym byte
	d   time.Duration
}{
	{'d', 24 * time.Hour},
	{'h', time.Hour},
	{'m', time.Minute},
	{'s', time.Second},
}

// ParseDuration parses a duration such as "90d", "1d12h", "1h30m" or "30s":
// whole numbers, each followed by one of the units d, h, m or s, each unit
// at most once and largest first. Fractions, negative values, other units
// (ms, w, y) and an empty string are rejected with a message that says the
// accepted form. Sub-second precision has no use in this configuration.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration; " + durationForm)
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q is negative; durations are zero or more: %s", s, durationForm)
	}
	var total time.Duration
	next := 0 // index into units of the smallest unit still allowed
	for rest := s; rest != ""; {
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || n == len(rest) {
			return 0, fmt.Errorf("duration %q is not valid: %s", s, durationForm)
		}
		u := -1
		for i := next; i < len(units); i++ {
			if units[i].sym == rest[n] {
				u = i
				break
			}
		}
		if u < 0 {
			return 0, fmt.Errorf("duration %q is not valid: %s", s, durationForm)
		}
		v, err := strconv.ParseInt(rest[:n], 10, 64)
		if err != nil || v > (math.MaxInt64-int64(total))/int64(units[u].d) {
			return 0, fmt.Errorf("duration %q is too long; the longest is about 292 years", s)
		}
		total += time.Duration(v) * units[u].d
		next = u + 1
		rest = rest[n+1:]
	}
	return total, nil
}

// formatDuration writes d in the form ParseDuration reads, so messages show
// values the way the operator wrote them ("14d", not "336h0m0s").
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range units {
		if d >= u.d {
			fmt.Fprintf(&b, "%d%c", d/u.d, u.sym)
			d %= u.d
		}
	}
	if d > 0 {
		// Below a second: only reachable for values not parsed here.
		b.WriteString(d.String())
	}
	return b.String()
}
