package main

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// fetchResult is what GET /fetch reports: one HTTP request made from this pod.
type fetchResult struct {
	Code   int               `json:"code"`
	Body   string            `json:"body"`
	Header map[string]string `json:"header,omitempty"`
	Ms     float64           `json:"ms"`
	Error  string            `json:"error,omitempty"`
}

// fetchClient has no keep-alive: each /fetch is a fresh connection, so a fault that
// starts between two calls sees the next one.
var fetchClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// fetch makes GET ?url= from inside this pod (HTTP faults: the target's own requests,
// or requests into another pod from a pod that is not the node) and reports the answer.
func fetch(w http.ResponseWriter, r *http.Request) {
	var res fetchResult
	start := time.Now()
	resp, err := fetchClient.Get(r.URL.Query().Get("url"))
	if err == nil {
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		res.Code, res.Body, res.Header = resp.StatusCode, string(b), map[string]string{}
		for k := range resp.Header {
			res.Header[k] = resp.Header.Get(k)
		}
		err = rerr
	}
	res.Ms = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		res.Error = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}
