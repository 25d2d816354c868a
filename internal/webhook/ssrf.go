package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Guard keeps deliveries away from the service's own network: targets must be
// https (unless AllowHTTP) and resolve only to public addresses (unless
// AllowPrivate, for development and tests). It is checked at registration and
// again at every connection, after DNS resolution, so a name that later
// resolves to 127.0.0.1 or 169.254.169.254 (DNS rebinding) is refused too.
type Guard struct {
	AllowHTTP    bool
	AllowPrivate bool
	Resolver     *net.Resolver // nil: net.DefaultResolver
}

// ErrTargetRefused is a URL or address a webhook may not be sent to.
var ErrTargetRefused = errors.New("webhook: target refused")

// blockedPrefixes are the ranges a webhook never reaches (besides loopback,
// private, link-local, multicast and unspecified, which netip knows).
var blockedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",          // "this network"
		"100.64.0.0/10",      // carrier-grade NAT
		"169.254.169.254/32", // cloud metadata (also link-local)
		"192.0.0.0/24",       // IETF protocol assignments
		"198.18.0.0/15",      // benchmarking
		"240.0.0.0/4",        // reserved
		"fd00:ec2::254/128",  // AWS metadata over IPv6
		"64:ff9b::/96",       // NAT64 (maps to IPv4, possibly private)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// publicAddr reports whether a webhook may connect to ip.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURL validates a target at registration: scheme, no credentials in it,
// and every address its host resolves to.
func (g Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%w: not an absolute URL", ErrTargetRefused)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && g.AllowHTTP:
	default:
		return nil, fmt.Errorf("%w: the scheme must be https", ErrTargetRefused)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: no credentials in the URL", ErrTargetRefused)
	}
	if len(raw) > 2048 {
		return nil, fmt.Errorf("%w: the URL is longer than 2048 characters", ErrTargetRefused)
	}
	if g.AllowPrivate {
		return u, nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !publicAddr(ip) {
			return nil, fmt.Errorf("%w: %s is not a public address", ErrTargetRefused, host)
		}
		return u, nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("%w: %s does not resolve", ErrTargetRefused, host)
	}
	for _, a := range addrs {
		if !publicAddr(a) {
			return nil, fmt.Errorf("%w: %s resolves to %s, not a public address", ErrTargetRefused, host, a)
		}
	}
	return u, nil
}

// control refuses, at connect time, any address the guard would not allow:
// whatever DNS said a moment ago, this is the address being dialled.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !publicAddr(ap.Addr()) {
		return fmt.Errorf("%w: connecting to %s", ErrTargetRefused, address)
	}
	return nil
}

// Client is the HTTP client of deliveries: the guard at every dial, a
// timeout, no redirects (a 3xx is the receiver's answer, and a failure), no
// proxy from the environment, no keep-alive pool shared with anything else.
func (g Guard) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: g.control, Resolver: g.Resolver}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil, // never HTTP(S)_PROXY: the guard must see the real target
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   32, // above WEBHOOK_CONCURRENCY: one receiver keeps its connections instead of reconnecting per delivery
			IdleConnTimeout:       90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
