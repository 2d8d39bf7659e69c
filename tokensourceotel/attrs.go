package tokensourceotel

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fintechauth/tokensource"
)

// The attribute keys the instruments and the span carry.
const (
	keyProvider = attribute.Key("tokensource.provider")
	keyOutcome  = attribute.Key("tokensource.outcome")
	keyReason   = attribute.Key("tokensource.reason")
	keyAttempts = attribute.Key("tokensource.attempts")
	keyCode     = attribute.Key("tokensource.error.code")
	keyIdentity = attribute.Key("tokensource.identity") // on spans only: one value per tenant or client
	keyStatus   = attribute.Key("http.response.status_code")
	keyErrType  = attribute.Key("error.type")
)

var (
	outcomeSuccess = keyOutcome.String("success")
	outcomeFailure = keyOutcome.String("failure")
)

// attrSet is one attribute set, as the options of both kinds of
// measurement: made once, passed as a slice, so a measurement allocates
// nothing for it.
type attrSet struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

func newAttrSet(kvs ...attribute.KeyValue) attrSet {
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return attrSet{add: []metric.AddOption{o}, record: []metric.RecordOption{o}}
}

// providerAttrs are the attribute sets of one provider.
type providerAttrs struct {
	kv               attribute.KeyValue
	plain            attrSet // the provider alone
	success, failure attrSet // with tokensource.outcome

	mu       sync.Mutex
	statuses map[int][]metric.AddOption // with http.response.status_code, if not 0
}

// poolReasons are the reasons a Pool gives for dropping a source.
var poolReasons = []string{"idle", "capacity", "removed", "closed"}

func newProviderAttrs(name string) *providerAttrs {
	kv := keyProvider.String(name)
	return &providerAttrs{kv: kv, plain: newAttrSet(kv), success: newAttrSet(kv, outcomeSuccess),
		failure: newAttrSet(kv, outcomeFailure), statuses: make(map[int][]metric.AddOption)}
}

// poolAttrs are the attribute sets of a Pool's events, which name no
// provider: a pool holds sources of any.
type poolAttrs struct {
	none    []metric.AddOption
	reasons map[string][]metric.AddOption
}

func newPoolAttrs() poolAttrs {
	p := poolAttrs{none: newAttrSet().add, reasons: make(map[string][]metric.AddOption)}
	for _, r := range poolReasons {
		p.reasons[r] = newAttrSet(keyReason.String(r)).add
	}
	return p
}

// outcome is the set with outcome failure if err is not nil, else success.
func (p *providerAttrs) outcome(err error) attrSet {
	if err != nil {
		return p.failure
	}
	return p.success
}

// status is the set of a failed attempt: with the HTTP status, if any.
func (p *providerAttrs) status(status int) []metric.AddOption {
	if status == 0 {
		return p.plain.add
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.statuses[status]
	if !ok {
		s = newAttrSet(p.kv, keyStatus.Int(status)).add
		p.statuses[status] = s
	}
	return s
}

// reason is the set of a dropped pool source.
func (p poolAttrs) reason(reason string) []metric.AddOption {
	if s, ok := p.reasons[reason]; ok {
		return s
	}
	return newAttrSet(keyReason.String(reason)).add
}

// attrCache holds the sets of every provider seen: the four of the core
// made up front, any other on first use.
type attrCache struct {
	pool   poolAttrs
	known  map[string]*providerAttrs // read only
	others sync.Map                  // string to *providerAttrs
}

func newAttrCache() *attrCache {
	c := &attrCache{pool: newPoolAttrs(), known: make(map[string]*providerAttrs)}
	for _, p := range []tokensource.Provider{tokensource.ProviderFliqa, tokensource.ProviderFlinks,
		tokensource.ProviderClientCredentials, tokensource.ProviderCustom} {
		c.known[string(p)] = newProviderAttrs(string(p))
	}
	return c
}

func (c *attrCache) provider(name string) *providerAttrs {
	if p, ok := c.known[name]; ok {
		return p
	}
	if p, ok := c.others.Load(name); ok {
		return p.(*providerAttrs)
	}
	p, _ := c.others.LoadOrStore(name, newProviderAttrs(name))
	return p.(*providerAttrs)
}
