package tokensourceotel_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fintechauth/tokensource/tokensourceotel"
)

// telemetry is an Observer on SDK providers that a test reads: metrics
// through a ManualReader, spans through a SpanRecorder.
type telemetry struct {
	*tokensourceotel.Observer
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider // the app's spans too: the recorder sees both
}

func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	obs, err := tokensourceotel.New(
		tokensourceotel.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		tokensourceotel.WithTracerProvider(tp))
	require.NoError(t, err)
	return &telemetry{Observer: obs, reader: reader, spans: spans, tp: tp}
}

// collect returns what the reader has.
func (tm *telemetry) collect(t testing.TB) []metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tm.reader.Collect(context.Background(), &rm))
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		require.Equal(t, tokensourceotel.ScopeName, sm.Scope.Name)
		out = append(out, sm.Metrics...)
	}
	return out
}

// points returns every data point collected so far, under
// "name{key=value,...}" (attributes sorted): a counter's value, and a
// histogram's count.
func (tm *telemetry) points(t testing.TB) map[string]float64 {
	t.Helper()
	points := map[string]float64{}
	for _, m := range tm.collect(t) {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				points[key(m.Name, p.Attributes)] = float64(p.Value)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				points[key(m.Name, p.Attributes)] = float64(p.Count)
			}
		default:
			t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
		}
	}
	return points
}

// sums returns the sums of the histograms' points, under the keys of points.
func (tm *telemetry) sums(t testing.TB) map[string]float64 {
	t.Helper()
	sums := map[string]float64{}
	for _, m := range tm.collect(t) {
		if d, ok := m.Data.(metricdata.Histogram[float64]); ok {
			for _, p := range d.DataPoints {
				sums[key(m.Name, p.Attributes)] = p.Sum
			}
		}
	}
	return sums
}

func key(name string, attrs attribute.Set) string {
	return fmt.Sprintf("%s{%s}", name, attrs.Encoded(attribute.DefaultEncoder()))
}
