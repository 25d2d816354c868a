package webhook

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckURLRefusesPrivateTargets(t *testing.T) {
	t.Parallel()
	strict := Guard{}
	refused := []string{
		"http://93.184.215.14/hook",                // http without WEBHOOK_ALLOW_HTTP
		"ftp://93.184.215.14/hook",                 // not http(s)
		"https://user:pw@93.184.215.14/hook",       // credentials
		"/relative/hook",                           // not absolute
		"https://127.0.0.1/hook",                   // loopback
		"https://127.1.2.3:8443/hook",              // loopback /8
		"https://localhost/hook",                   // resolves to loopback
		"https://10.0.0.5/hook",                    // RFC 1918
		"https://172.16.9.9/hook",                  // RFC 1918
		"https://192.168.1.1/hook",                 // RFC 1918
		"https://169.254.169.254/latest/meta-data", // cloud metadata
		"https://169.254.10.10/hook",               // link-local
		"https://100.64.0.1/hook",                  // carrier-grade NAT
		"https://0.0.0.0/hook",                     // unspecified
		"https://[::1]/hook",                       // IPv6 loopback
		"https://[fd00::1]/hook",                   // IPv6 unique local
		"https://[fe80::1]/hook",                   // IPv6 link-local
		"https://[::ffff:127.0.0.1]/hook",          // IPv4-mapped loopback
		"https://[::ffff:169.254.169.254]/hook",    // IPv4-mapped metadata
		"https://[fd00:ec2::254]/hook",             // AWS metadata over IPv6
		"https://[64:ff9b::a00:1]/hook",            // NAT64 of 10.0.0.1
		"https://2130706433/hook",                  // 127.0.0.1 as a decimal host: not resolvable as a name
		"https://no-such-host.invalid/hook",        // does not resolve
		"https://93.184.215.14/" + strings.Repeat("a", 2100),
	}
	for _, raw := range refused {
		if _, err := strict.CheckURL(context.Background(), raw); !errors.Is(err, ErrTargetRefused) {
			t.Errorf("CheckURL(%.60q) = %v, want refused", raw, err)
		}
	}
	for _, raw := range []string{"https://93.184.215.14/hook", "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook"} {
		if _, err := strict.CheckURL(context.Background(), raw); err != nil {
			t.Errorf("CheckURL(%q) = %v, want allowed", raw, err)
		}
	}
	dev := Guard{AllowHTTP: true, AllowPrivate: true}
	if _, err := dev.CheckURL(context.Background(), "http://127.0.0.1:9/hook"); err != nil {
		t.Errorf("development guard refused a local http URL: %v", err)
	}
	if _, err := (Guard{AllowPrivate: true}).CheckURL(context.Background(), "http://127.0.0.1:9/hook"); err == nil {
		t.Error("AllowPrivate alone allowed http")
	}
}

// TestDNSRebindingIsCaughtAtDial: a name that resolves to a public address
// when it is checked and to 127.0.0.1 when it is dialled never reaches the
// local server: the dialer's Control func sees the address actually dialled.
func TestDNSRebindingIsCaughtAtDial(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) })}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	// A DNS server whose first answer is public and every later one loopback.
	dns := rebindingDNS(t, net.IPv4(93, 184, 215, 14), net.IPv4(127, 0, 0, 1))
	g := Guard{AllowHTTP: true, Resolver: &net.Resolver{PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", dns)
		}}}
	url := "http://rebind.example.com:" + strconv.Itoa(port) + "/hook"
	if _, err := g.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("CheckURL at registration (public answer) = %v, want allowed", err)
	}
	resp, err := g.Client(5*time.Second).Post(url, "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the delivery reached %s after the name rebound to 127.0.0.1", url)
	}
	if !errors.Is(err, ErrTargetRefused) {
		t.Errorf("error = %v, want ErrTargetRefused from the dialer", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the local server got %d requests", n)
	}
	// And the plain case: dialling a private address directly.
	if _, err := g.Client(time.Second).Get("http://" + ln.Addr().String()); !errors.Is(err, ErrTargetRefused) {
		t.Errorf("direct dial of %s = %v, want refused", ln.Addr(), err)
	}
}

// rebindingDNS answers A queries with first, then always with later (AAAA
// queries get no answers). It returns its UDP address.
func rebindingDNS(t *testing.T, first, later net.IP) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var answered atomic.Int64
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if n < 12 {
				continue
			}
			// The question ends after the name's zero byte, type and class.
			end := 12
			for end < n && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5
			if end > n {
				continue
			}
			qtype := binary.BigEndian.Uint16(q[end-4 : end-2])
			resp := append([]byte{}, q[:end]...)
			resp[2], resp[3] = 0x81, 0x80            // response, recursion available, no error
			binary.BigEndian.PutUint16(resp[6:8], 0) // answers
			binary.BigEndian.PutUint16(resp[8:10], 0)
			binary.BigEndian.PutUint16(resp[10:12], 0)
			if qtype == 1 { // A
				ip := later
				if answered.Add(1) == 1 {
					ip = first
				}
				binary.BigEndian.PutUint16(resp[6:8], 1)
				resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4)
				resp = append(resp, ip.To4()...)
			}
			_, _ = pc.WriteTo(resp, addr)
		}
	}()
	return pc.LocalAddr().String()
}
