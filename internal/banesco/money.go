package banesco

import (
	"errors"
	"fmt"
	"strings"
)

// maxIntDigits keeps cents far from int64 overflow; no bolívar amount is near it.
const maxIntDigits = 15

// parseCents reads a non-negative decimal amount ("1240", "1240.1",
// "1240.00") into cents without ever going through float64. More than two
// decimals are accepted only when the extra ones are zeros, since they cannot
// change the value to the cent.
func parseCents(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty amount")
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || !isDigits(intPart, 1, maxIntDigits) {
		return 0, fmt.Errorf("amount %q is not a plain decimal", clip(s))
	}
	if hasDot && (frac == "" || !isDigits(frac, 1, 64)) {
		return 0, fmt.Errorf("amount %q is not a plain decimal", clip(s))
	}
	if len(frac) > 2 {
		if strings.Trim(frac[2:], "0") != "" {
			return 0, fmt.Errorf("amount %q has fractions of a cent", clip(s))
		}
		frac = frac[:2]
	}
	for len(frac) < 2 {
		frac += "0"
	}
	var cents int64
	for _, r := range intPart + frac {
		cents = cents*10 + int64(r-'0')
	}
	return cents, nil
}

// formatCents writes cents as the bank's two-decimal text ("1240.00").
func formatCents(cents int64) string {
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// clip bounds untrusted text before it goes into an error message.
func clip(s string) string {
	const max = 32
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
