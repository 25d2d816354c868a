package banesco

import "strings"

// LimitKey is the reference as the bank counts it for its per-transaction limit
// (docs/bank.md, Our own limits): the referenceNumber we send — the last 6 digits for pago
// móvil, the whole reference without zero padding for transfers. Two of our
// transactions that send the same referenceNumber share one budget at the bank,
// so they must share one in our limiter too.
func LimitKey(q Query) string {
	ref := q.Reference
	if q.Mode == ModeMobile {
		if len(ref) > mobileRefDigits {
			ref = ref[len(ref)-mobileRefDigits:]
		}
		return "m:" + ref
	}
	if t := strings.TrimLeft(ref, "0"); t != "" {
		ref = t
	}
	return "t:" + ref
}
