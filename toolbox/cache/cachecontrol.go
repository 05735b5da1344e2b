package cache

import (
	"strconv"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
)

// cacheControl holds the directives of a core.MetaCacheControl value
// the memo acts on; unknown directives are ignored, as HTTP caches do.
type cacheControl struct {
	noStore, noCache bool
	maxAge           time.Duration // -1: none given
}

func parseCacheControl(md core.Metadata) cacheControl {
	cc := cacheControl{maxAge: -1}
	v, ok := md[core.MetaCacheControl]
	if !ok {
		return cc
	}
	for _, d := range strings.Split(v, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store":
			cc.noStore = true
		case d == "no-cache":
			cc.noCache = true
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(d[len("max-age="):], 10, 64)
			if err == nil && n >= 0 && n <= 100*365*24*3600 {
				cc.maxAge = time.Duration(n) * time.Second
			}
		}
	}
	return cc
}

// fresh reports whether a reply of that age may answer the request.
func (cc cacheControl) fresh(age time.Duration) bool { return cc.maxAge < 0 || age <= cc.maxAge }
