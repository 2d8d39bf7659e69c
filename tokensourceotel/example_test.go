package tokensourceotel_test

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourceotel"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// A program that prints its token metrics and spans with the stdout
// exporters: the README's example.
func Example() {
	ctx := context.Background()
	metrics, err := stdoutmetric.New(stdoutmetric.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metrics)))
	defer mp.Shutdown(ctx) // exports what was recorded
	spans, err := stdouttrace.New(stdouttrace.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(ctx)

	obs, err := tokensourceotel.New(tokensourceotel.WithMeterProvider(mp), tokensourceotel.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}
	fake := tokensourcetest.NewFliqa(nil) // a Fliqa token endpoint on loopback
	defer fake.Close()
	cfg := &tokensource.FliqaConfig{
		APIKey:      fake.APIKey,
		APISecret:   fake.APISecret,
		Environment: fake.Environment,
		TenantSlug:  fake.TenantSlug,
		BaseURL:     fake.URL,
		Observer:    obs,
	}
	if _, err := cfg.TokenSource(ctx).Token(); err != nil {
		log.Fatal(err)
	}
}

// What an Observer records, read back with the SDK's ManualReader: a
// cached source fetches once for many calls.
func ExampleNew() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	obs, err := tokensourceotel.New(
		tokensourceotel.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		log.Fatal(err)
	}
	fake := tokensourcetest.NewFliqa(nil)
	defer fake.Close()
	src := (&tokensource.FliqaConfig{APIKey: fake.APIKey, APISecret: fake.APISecret,
		Environment: fake.Environment, TenantSlug: fake.TenantSlug, BaseURL: fake.URL, Observer: obs}).TokenSource(ctx)
	for range 5 {
		if _, err := src.Token(); err != nil {
			log.Fatal(err)
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "tokensource.fetch.duration" {
			p := h.DataPoints[0]
			outcome, _ := p.Attributes.Value("tokensource.outcome")
			fmt.Printf("%s: %d fetch, %s\n", m.Name, p.Count, outcome.AsString())
		}
	}
	fmt.Println("requests the endpoint saw:", fake.Requests())
	// Output:
	// tokensource.fetch.duration: 1 fetch, success
	// requests the endpoint saw: 1
}
