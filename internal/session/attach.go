package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
)

// apiAttacher attaches through the API server: pods/NAME/attach, WebSocket first (the
// streaming protocol of current API servers, with stdin half-close), SPDY when the
// server or a proxy refuses the WebSocket upgrade itself (spdyFallback).
type apiAttacher struct {
	cfg *rest.Config

	once   sync.Once
	client rest.Interface
	err    error
}

// NewAttacher returns the Attacher that goes through the API server (pods/attach).
func NewAttacher(cfg *rest.Config) Attacher { return &apiAttacher{cfg: cfg} }

func (a *apiAttacher) restClient() (rest.Interface, error) {
	a.once.Do(func() {
		cs, err := kubernetes.NewForConfig(a.cfg)
		if err != nil {
			a.err = fmt.Errorf("building the API client for attach: %w", err)
			return
		}
		a.client = cs.CoreV1().RESTClient()
	})
	return a.client, a.err
}

func (a *apiAttacher) Attach(ctx context.Context, namespace, pod, container string, stdin io.Reader, stdout io.Writer) error {
	rc, err := a.restClient()
	if err != nil {
		return err
	}
	u := rc.Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{
			Container: container,
			Stdin:     true,
			Stdout:    true,
			Stderr:    false,
			TTY:       false,
		}, scheme.ParameterCodec).URL()
	spdy, err := remotecommand.NewSPDYExecutor(a.cfg, "POST", u)
	if err != nil {
		return fmt.Errorf("attaching to %s/%s: %w", namespace, pod, err)
	}
	// WebSocket must be GET (RFC 6455 4.1). The fallback test uses k8s.io/streaming's
	// httpstream, the package client-go v0.37 returns its UpgradeFailureError from (the
	// apimachinery one of the same name never matches).
	ws, err := remotecommand.NewWebSocketExecutor(a.cfg, "GET", u.String())
	if err != nil {
		return fmt.Errorf("attaching to %s/%s: %w", namespace, pod, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, spdyFallback)
	if err != nil {
		return fmt.Errorf("attaching to %s/%s: %w", namespace, pod, err)
	}
	if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout}); err != nil {
		return fmt.Errorf("attaching to %s/%s container %s: %w", namespace, pod, container, err)
	}
	return nil
}

// spdyFallback says whether a failed WebSocket attach is worth a second try over SPDY.
// kubectl retries on any failed upgrade; we do not when the API server answered with a
// Status 400 or 404: it read the WebSocket request and refused the attach itself (the
// helper is not running yet: no node, container not created; or the pod is gone), and
// SPDY would be refused the same way. The session's early attach probes hit exactly
// that while a helper starts, and paid two requests per probe (docs/README.md). A
// refusal of the upgrade (an old kubelet's 403 without a Status, a proxy, a 403 Status
// for the WebSocket's GET where SPDY's POST is allowed, a wrong subprotocol) still
// falls back.
func spdyFallback(err error) bool {
	if httpstream.IsHTTPSProxyError(err) {
		return true
	}
	var up *httpstream.UpgradeFailureError
	if !errors.As(err, &up) {
		return false
	}
	var st *apierrors.StatusError
	if errors.As(up.Cause, &st) {
		switch st.Status().Code {
		case http.StatusBadRequest, http.StatusNotFound:
			return false
		}
	}
	return true
}
