package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"kpay-rotator/event"
	"kpay-rotator/store"
)

var recordCases = []testCase{
	{"SlotState", testRecordsSlotState},
	{"PairRecord", testRecordsPairRecord},
	{"ProbeRecord", testRecordsProbeRecord},
	{"Event", testRecordsEvent},
	{"Rotation", testRecordsRotation},
	{"Delivery", testRecordsDelivery},
	{"AlertState", testRecordsAlertState},
	{"ReceiverState", testRecordsReceiverState},
	{"StoredValuesAreCopies", testRecordsStoredValuesAreCopies},
}

// Round trips fill every field, by reflection, so a field added to a
// record later is covered without touching the suite: a backend that
// forgets to keep it fails here.

// validValues are what fill gives fields of types that only hold some
// values: a backend may check them, and event.Severity must parse.
var validValues = map[reflect.Type]any{
	reflect.TypeFor[store.Health]():        store.HealthDegraded,
	reflect.TypeFor[store.AgeState]():      store.AgeOverdue,
	reflect.TypeFor[store.PairRole]():      store.RoleRetired,
	reflect.TypeFor[store.BornSource]():    store.BornAdmin,
	reflect.TypeFor[store.RotationState](): store.RotationVerified,
	reflect.TypeFor[event.Kind]():          event.KeyFailing,
	reflect.TypeFor[event.Severity]():      event.Critical,
}

var timeType = reflect.TypeFor[time.Time]()

// fillZone is not UTC: a backend must keep the instant, not the zone.
var fillZone = time.FixedZone("UTC+2", 2*60*60)

// filled returns a T with every field set to a distinct non-zero value
// (microsecond times, so a backend need not keep nanoseconds).
func filled[T any](t *testing.T) T {
	t.Helper()
	var v T
	n := 0
	fill(t, reflect.ValueOf(&v).Elem(), reflect.TypeFor[T]().Name(), &n)
	return v
}

func fill(t *testing.T, v reflect.Value, path string, n *int) {
	t.Helper()
	*n++
	if valid, ok := validValues[v.Type()]; ok {
		v.Set(reflect.ValueOf(valid))
		return
	}
	switch {
	case v.Type() == timeType:
		at := time.Date(2026, 11, 28, 10, 0, 0, 0, fillZone).Add(time.Duration(*n)*time.Minute + time.Duration(*n)*time.Microsecond)
		v.Set(reflect.ValueOf(at))
		return
	case v.Type() == reflect.TypeFor[time.Duration]():
		v.SetInt(int64(time.Duration(*n)*time.Second + 250*time.Millisecond))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.25)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path, n)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i), n)
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			t.Fatalf("fill %s: map key %s not supported", path, v.Type().Key())
		}
		v.Set(reflect.MakeMap(v.Type()))
		for i := range 2 {
			val := reflect.New(v.Type().Elem()).Elem()
			fill(t, val, fmt.Sprintf("%s[%d]", path, i), n)
			v.SetMapIndex(reflect.ValueOf(fmt.Sprintf("key-%d", *n)).Convert(v.Type().Key()), val)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				t.Fatalf("fill %s: unexported field %s", path, f.Name)
			}
			fill(t, v.Field(i), path+"."+f.Name, n)
		}
	default:
		t.Fatalf("fill %s: %s not supported; teach storetest's fill", path, v.Type())
	}
}

// unset names every field of v left zero, so a round trip can say it
// covered each.
func unset(v reflect.Value, path string) []string {
	switch {
	case v.Type() == timeType || v.Kind() != reflect.Struct && v.Kind() != reflect.Pointer && v.Kind() != reflect.Slice:
		if v.IsZero() {
			return []string{path}
		}
		return nil
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return unset(v.Elem(), path)
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		var out []string
		for i := range v.Len() {
			out = append(out, unset(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	var out []string
	for i := range v.NumField() {
		out = append(out, unset(v.Field(i), path+"."+v.Type().Field(i).Name)...)
	}
	return out
}

func requireFilled[T any](t *testing.T, v T) {
	t.Helper()
	if zero := unset(reflect.ValueOf(v), reflect.TypeFor[T]().Name()); len(zero) > 0 {
		t.Fatalf("fill left fields zero, the round trip would not cover them: %v", zero)
	}
}

// normalize returns a deep copy of v with every time in UTC without a
// monotonic reading, and empty slices and maps nil: what the contract does
// not promise to keep.
func normalize[T any](v T) T {
	return normValue(reflect.ValueOf(&v).Elem()).Interface().(T)
}

func normValue(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	if v.Type() == timeType {
		out.Set(reflect.ValueOf(v.Interface().(time.Time).UTC().Round(0)))
		return out
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out.Set(reflect.New(v.Type().Elem()))
			out.Elem().Set(normValue(v.Elem()))
		}
	case reflect.Slice:
		if v.Len() > 0 {
			out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
			for i := range v.Len() {
				out.Index(i).Set(normValue(v.Index(i)))
			}
		}
	case reflect.Map:
		if v.Len() > 0 {
			out.Set(reflect.MakeMap(v.Type()))
			for it := v.MapRange(); it.Next(); {
				out.SetMapIndex(it.Key(), normValue(it.Value()))
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			out.Index(i).Set(normValue(v.Index(i)))
		}
	case reflect.Struct:
		out.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(normValue(v.Field(i)))
			}
		}
	default:
		out.Set(v)
	}
	return out
}

// equal compares records as the contract promises to keep them.
func equal[T any](a, b T) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

// checkSame reports got unless it equals want.
func checkSame[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !equal(got, want) {
		t.Errorf("%s:\ngot  %+v\nwant %+v", what, normalize(got), normalize(want))
	}
}

func testRecordsSlotState(t *testing.T, open Opener) {
	s := open(t, defaults)
	want := filled[store.SlotState](t)
	requireFilled(t, want)
	write(t, s, func(tx store.Tx) error { return tx.PutSlot(want) })
	got, ok := lookup(t, s, func(tx store.Tx) (store.SlotState, bool, error) { return tx.Slot(want.Name) })
	if !ok {
		t.Fatalf("Slot(%s) not found after PutSlot", want.Name)
	}
	checkSame(t, "Slot", got, want)
	all := read(t, s, func(tx store.Tx) ([]store.SlotState, error) { return tx.Slots() })
	checkSame(t, "Slots", all, []store.SlotState{want})
}

func testRecordsPairRecord(t *testing.T, open Opener) {
	s := open(t, defaults)
	want := filled[store.PairRecord](t)
	requireFilled(t, want)
	write(t, s, func(tx store.Tx) error { return tx.PutPair(want) })
	got, ok := lookup(t, s, func(tx store.Tx) (store.PairRecord, bool, error) { return tx.Pair(want.Slot, want.Fingerprint) })
	if !ok {
		t.Fatalf("Pair(%s, %s) not found after PutPair", want.Slot, want.Fingerprint)
	}
	checkSame(t, "Pair", got, want)
	all := read(t, s, func(tx store.Tx) ([]store.PairRecord, error) { return tx.Pairs(want.Slot) })
	checkSame(t, "Pairs", all, []store.PairRecord{want})
}

func testRecordsProbeRecord(t *testing.T, open Opener) {
	s := open(t, defaults)
	want := filled[store.ProbeRecord](t)
	requireFilled(t, want)
	write(t, s, func(tx store.Tx) error { return tx.RecordProbe("a", "fp", want) })
	got := read(t, s, func(tx store.Tx) ([]store.ProbeRecord, error) { return tx.Probes("a", "fp", 0) })
	checkSame(t, "Probes", got, []store.ProbeRecord{want})
}

func testRecordsEvent(t *testing.T, open Opener) {
	s := open(t, defaults)
	e := filled[event.Event](t)
	requireFilled(t, e)
	want := e
	write(t, s, func(tx store.Tx) error { return tx.AppendEvent(&e) })
	want.Seq = 1 // the store's to give
	checkSame(t, "AppendEvent's event", e, want)
	got := read(t, s, func(tx store.Tx) ([]event.Event, error) { return tx.Events(0, 0) })
	checkSame(t, "Events", got, []event.Event{want})
}

func testRecordsRotation(t *testing.T, open Opener) {
	s := open(t, defaults)
	want := filled[store.Rotation](t)
	requireFilled(t, want)
	write(t, s, func(tx store.Tx) error { return tx.PutRotation(want) })
	got, ok := lookup(t, s, func(tx store.Tx) (store.Rotation, bool, error) { return tx.Rotation(want.Slot, want.ID) })
	if !ok {
		t.Fatalf("Rotation(%s, %s) not found after PutRotation", want.Slot, want.ID)
	}
	checkSame(t, "Rotation", got, want)
	active, ok := lookup(t, s, func(tx store.Tx) (store.Rotation, bool, error) { return tx.ActiveRotation(want.Slot) })
	if !ok {
		t.Fatalf("ActiveRotation(%s) of a %s rotation: none", want.Slot, want.State)
	}
	checkSame(t, "ActiveRotation", active, want)
	all := read(t, s, func(tx store.Tx) ([]store.Rotation, error) { return tx.Rotations(want.Slot, 0) })
	checkSame(t, "Rotations", all, []store.Rotation{want})
}

func testRecordsDelivery(t *testing.T, open Opener) {
	s := open(t, defaults)
	want := filled[store.Delivery](t)
	requireFilled(t, want)
	d := want
	write(t, s, func(tx store.Tx) error { return tx.PutDelivery(&d) })
	got := read(t, s, func(tx store.Tx) ([]store.Delivery, error) { return tx.Deliveries(want.Receiver, 0) })
	checkSame(t, "Deliveries", got, []store.Delivery{want})
}

func testRecordsAlertState(t *testing.T, open Opener) {
	s := open(t, defaults)
	want := filled[store.AlertState](t)
	requireFilled(t, want)
	write(t, s, func(tx store.Tx) error { return tx.PutAlertState(want) })
	got, ok := lookup(t, s, func(tx store.Tx) (store.AlertState, bool, error) {
		return tx.GetAlertState(want.Receiver, want.Slot, want.Condition)
	})
	if !ok {
		t.Fatalf("GetAlertState(%s, %s, %s) not found after PutAlertState", want.Receiver, want.Slot, want.Condition)
	}
	checkSame(t, "GetAlertState", got, want)
	all := read(t, s, func(tx store.Tx) ([]store.AlertState, error) { return tx.AlertStates() })
	checkSame(t, "AlertStates", all, []store.AlertState{want})
}

func testRecordsReceiverState(t *testing.T, open Opener) {
	s := open(t, defaults)
	want := filled[store.ReceiverState](t)
	requireFilled(t, want)
	write(t, s, func(tx store.Tx) error { return tx.PutReceiver(want) })
	got := read(t, s, func(tx store.Tx) (store.ReceiverState, error) { return tx.Receiver(want.Name) })
	checkSame(t, "Receiver", got, want)
}

// testRecordsStoredValuesAreCopies: what a caller does with a record after
// putting it, or with one it read, does not reach the store (a backend
// keeping values in memory must copy slices, maps and pointers).
func testRecordsStoredValuesAreCopies(t *testing.T, open Opener) {
	s := open(t, defaults)
	st := filled[store.SlotState](t)
	d := filled[store.Delivery](t)
	wantSlot, wantDelivery := normalize(st), normalize(d)
	write(t, s, func(tx store.Tx) error {
		if err := tx.PutSlot(st); err != nil {
			return err
		}
		return tx.PutDelivery(&d)
	})
	mutate := func(st *store.SlotState, d *store.Delivery) {
		st.LastProbe.Detail = "changed"
		d.Events[0].Message = "changed"
		d.Events[0].Resolves[0] = "changed"
		for k := range d.Events[0].Fields {
			d.Events[0].Fields[k] = "changed"
		}
	}
	mutate(&st, &d)
	readBoth := func() (store.SlotState, store.Delivery) {
		got, _ := lookup(t, s, func(tx store.Tx) (store.SlotState, bool, error) { return tx.Slot(wantSlot.Name) })
		ds := queue(t, s, wantDelivery.Receiver, 0)
		if len(ds) != 1 {
			t.Fatalf("Deliveries(%s) = %d, want 1", wantDelivery.Receiver, len(ds))
		}
		return got, ds[0]
	}
	gotSlot, gotDelivery := readBoth()
	checkSame(t, "Slot after changing what was put", gotSlot, wantSlot)
	checkSame(t, "Delivery after changing what was put", gotDelivery, wantDelivery)
	mutate(&gotSlot, &gotDelivery)
	gotSlot, gotDelivery = readBoth()
	checkSame(t, "Slot after changing what was read", gotSlot, wantSlot)
	checkSame(t, "Delivery after changing what was read", gotDelivery, wantDelivery)
}
