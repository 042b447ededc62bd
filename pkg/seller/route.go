package seller

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// parsePattern splits "[METHOD ]PATH" and checks the path glob.
func parsePattern(p string) (method, glob string, err error) {
	p = strings.TrimSpace(p)
	if m, rest, ok := strings.Cut(p, " "); ok {
		method, glob = m, strings.TrimSpace(rest)
		if method == "" || strings.ToUpper(method) != method {
			return "", "", errors.New("the method must be upper case, as in \"GET /reports/*\"")
		}
	} else {
		glob = p
	}
	if !strings.HasPrefix(glob, "/") {
		return "", "", errors.New("the path must start with /")
	}
	if strings.ContainsAny(glob, "{}") {
		// A ServeMux wildcard read as a glob matches only itself: the
		// route would price nothing and its handler would serve free.
		return "", "", errors.New("{...} wildcards are ServeMux syntax, not globs: write * for one segment, /** for any rest")
	}
	if _, err := path.Match(strings.TrimSuffix(glob, "/**"), "/"); err != nil {
		return "", "", errors.New("the path is not a valid glob")
	}
	if strings.Contains(strings.TrimSuffix(glob, "/**"), "**") {
		return "", "", errors.New("** is allowed only as the last segment (/**)")
	}
	return method, glob, nil
}

// match reports whether the route prices a request with method and urlPath.
func (r *route) match(method, urlPath string) bool {
	// GET also prices HEAD, as net/http's ServeMux routes HEAD to GET
	// handlers: a HEAD must not run a priced handler unpaid.
	if r.method != "" && r.method != method && !(r.method == http.MethodGet && method == http.MethodHead) {
		return false
	}
	if prefix, ok := strings.CutSuffix(r.path, "/**"); ok {
		if ok, _ := path.Match(prefix, urlPath); ok {
			return true
		}
		// The prefix's segments match the path's first segments.
		n := strings.Count(prefix, "/")
		segs := strings.SplitAfterN(urlPath, "/", n+2)
		if len(segs) < n+1 {
			return false
		}
		head := strings.TrimSuffix(strings.Join(segs[:n+1], ""), "/")
		ok, _ := path.Match(prefix, head)
		return ok
	}
	ok, _ := path.Match(r.path, urlPath)
	return ok
}

// routeFor returns the first route matching the request, or nil.
func routeFor(routes []*route, method, urlPath string) *route {
	for _, r := range routes {
		if r.match(method, urlPath) {
			return r
		}
	}
	return nil
}

// routeOf returns the first route matching the request under any reading
// of its path a router may use, or nil: the decoded path (r.URL.Path, as
// most routers) and the segments of the escaped path each decoded, an
// encoded slash kept inside its segment (net/http's ServeMux: "/reports/a%2Fb"
// is the two segments "reports" and "a/b", which "/reports/*" must price).
func routeOf(routes []*route, r *http.Request) *route {
	if rt := routeFor(routes, r.Method, r.URL.Path); rt != nil {
		return rt
	}
	if seg := segmentPath(r.URL.EscapedPath()); seg != r.URL.Path {
		return routeFor(routes, r.Method, seg)
	}
	return nil
}

// segmentPath decodes each segment of an escaped path, writing a slash
// inside a segment as %2F so that it stays within the segment.
func segmentPath(escaped string) string {
	segs := strings.Split(escaped, "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		segs[i] = strings.ReplaceAll(s, "/", "%2F")
	}
	return strings.Join(segs, "/")
}
