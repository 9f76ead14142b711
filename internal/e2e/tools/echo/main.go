// Command echo is the e2e test workload: a server (HTTP with /count and /time, TCP echo,
// TCP source, UDP echo on fixed ports), the probes the tests and the demo run against
// it, and an IO mode that writes under a directory and reports what its writes saw.
//
//	echo serve
//	echo probe udp   ADDR [-count N] [-interval D] [-timeout D]  -> JSON loss report
//	echo probe tcp   ADDR [-count N] [-timeout D]               -> JSON connect report
//	echo probe download ADDR [-seconds S]                        -> JSON throughput
//	echo probe send  ADDR [-count N] [-interval D]               -> one-way UDP datagrams
//	echo client URL [-interval D]                                -> one line per second
//	echo iowork DIR [-interval D] [-size N]                      -> writes under DIR, stats on :8080/io
//
// serve and iowork crash-loop on demand when $ECHO_CRASHLOOP names a file (crashloop.go).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// Fixed ports of the server.
const (
	HTTPPort   = 8080
	EchoPort   = 7000 // TCP echo
	SourcePort = 7002 // TCP: the server writes until the client closes
	UDPPort    = 9000 // UDP echo
	SinkPort   = 9001 // UDP sink: counts datagrams, answers nothing (GET /count)
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve()
	case "probe":
		if len(os.Args) < 4 {
			usage()
		}
		err = runProbe(os.Args[2], os.Args[3], os.Args[4:])
	case "client":
		if len(os.Args) < 3 {
			usage()
		}
		err = client(os.Args[2], os.Args[3:])
	case "iowork":
		if len(os.Args) < 3 {
			usage()
		}
		err = iowork(os.Args[2], os.Args[3:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: echo serve | echo probe udp|tcp|download ADDR [flags] | echo client URL [flags] | echo iowork DIR [flags]")
	os.Exit(2)
}

func serve() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	crashLoop()
	errc := make(chan error, 4)
	var sunk atomic.Int64
	go func() { errc <- http.ListenAndServe(fmt.Sprintf(":%d", HTTPPort), httpMux(&sunk)) }()
	go serveTCP(errc, EchoPort, func(c net.Conn) { _, _ = io.Copy(c, c) })
	go serveTCP(errc, SourcePort, func(c net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	go serveUDP(errc, UDPPort, func(pc net.PacketConn, b []byte, addr net.Addr) { _, _ = pc.WriteTo(b, addr) })
	go serveUDP(errc, SinkPort, func(net.PacketConn, []byte, net.Addr) { sunk.Add(1) })
	serveDNS()
	fmt.Printf("echo: serving http :%d, tcp echo :%d, tcp source :%d, udp echo :%d, dns :%d\n", HTTPPort, EchoPort, SourcePort, UDPPort, DNSPort)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// httpMux answers / with the host name, /count with the UDP sink's count, /time with
// the server's time.Now() (what a time fault shifts), /stream with ?bytes= zero bytes
// /resolve with a DNS query made from this pod and /fetch with an HTTP request made
// from this pod.
func httpMux(sunk *atomic.Int64) *http.ServeMux {
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "{\"udpSink\":%d}\n", sunk.Load())
	})
	mux.HandleFunc("/time", func(w http.ResponseWriter, r *http.Request) {
		// The server's wall clock as time.Now() reads it (the vDSO): what a time fault shifts.
		fmt.Fprintf(w, "{\"unixNano\":%d}\n", time.Now().UnixNano())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok %s\n", host)
	})
	mux.HandleFunc("/resolve", resolve)
	mux.HandleFunc("/fetch", fetch)
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("bytes"))
		buf := make([]byte, 32<<10)
		for n > 0 {
			k := min(n, len(buf))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	return mux
}

// serveTCP accepts on port and runs handle on each connection.
func serveTCP(errc chan<- error, port int, handle func(net.Conn)) {
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		errc <- err
		return
	}
	for {
		c, err := l.Accept()
		if err != nil {
			errc <- err
			return
		}
		go func() { defer c.Close(); handle(c) }()
	}
}

// serveUDP reads datagrams on port and runs handle on each.
func serveUDP(errc chan<- error, port int, handle func(pc net.PacketConn, b []byte, addr net.Addr)) {
	pc, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port))
	if err != nil {
		errc <- err
		return
	}
	buf := make([]byte, 65536)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			errc <- err
			return
		}
		handle(pc, buf[:n], addr)
	}
}

func runProbe(kind, addr string, args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	count := fs.Int("count", 200, "datagrams or connections")
	interval := fs.Duration("interval", 5*time.Millisecond, "time between datagrams")
	timeout := fs.Duration("timeout", 500*time.Millisecond, "wait for answers")
	seconds := fs.Float64("seconds", 3, "download time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var v any
	switch kind {
	case "udp":
		r, err := probe.UDP(addr, *count, *interval, *timeout)
		if err != nil {
			return err
		}
		v = r
	case "tcp":
		v = probe.TCP(addr, *count, *timeout)
	case "send":
		sent, err := probe.Send(addr, *count, *interval)
		if err != nil {
			return err
		}
		v = map[string]int{"sent": sent}
	case "download":
		r, err := probe.Download(addr, time.Duration(*seconds*float64(time.Second)))
		if err != nil {
			return err
		}
		v = r
	default:
		return fmt.Errorf("probe kind %q: want udp, tcp, send or download", kind)
	}
	return json.NewEncoder(os.Stdout).Encode(v)
}

// client sends one HTTP request per interval and prints, once a second, how many
// failed and the latency seen: what the demo shows before, during and after a fault.
func client(url string, args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	interval := fs.Duration("interval", 100*time.Millisecond, "time between requests")
	timeout := fs.Duration("timeout", 500*time.Millisecond, "request timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hc := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
	var ok, failed int
	var lat []time.Duration
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-report.C:
			total := ok + failed
			errRate := 0.0
			if total > 0 {
				errRate = 100 * float64(failed) / float64(total)
			}
			fmt.Printf("%s requests=%d errors=%d (%.0f%%) p50=%.1fms p99=%.1fms\n",
				time.Now().Format("15:04:05"), total, failed, errRate, probe.Percentile(lat, 50), probe.Percentile(lat, 99))
			ok, failed, lat = 0, 0, lat[:0]
		case <-tick.C:
			t := time.Now()
			resp, err := hc.Get(url)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil {
				failed++
				continue
			}
			ok++
			lat = append(lat, time.Since(t))
		}
	}
}
