package inbox

// Dir is an inbox directory, for a consumer that takes the inbox as an
// interface (the rotator): each method is the package function of the
// same name on this directory. Files it writes keep the writer's owner,
// which is the daemon's.
type Dir string

// Pending is Pending(d).
func (d Dir) Pending() ([]string, error) { return Pending(string(d)) }

// Exists is Exists(d, slot).
func (d Dir) Exists(slot string) bool { return Exists(string(d), slot) }

// Read is Read(d, slot).
func (d Dir) Read(slot string) (Request, error) { return Read(string(d), slot) }

// DropIf is DropIf(d, slot, id).
func (d Dir) DropIf(slot, id string) error { return DropIf(string(d), slot, id) }

// ReadWindow is ReadWindow(d, slot).
func (d Dir) ReadWindow(slot string) (Window, error) { return ReadWindow(string(d), slot) }

// CloseWindow is CloseWindow(d, slot).
func (d Dir) CloseWindow(slot string) error { return CloseWindow(string(d), slot) }

// CloseWindowIf is CloseWindowIf(d, slot, id).
func (d Dir) CloseWindowIf(slot, id string) error { return CloseWindowIf(string(d), slot, id) }

// WriteResult is WriteResult(d, r, -1, -1).
func (d Dir) WriteResult(r Result) error { return WriteResult(string(d), r, -1, -1) }

// ReadAcceptance is ReadAcceptance(d, slot).
func (d Dir) ReadAcceptance(slot string) (Acceptance, error) { return ReadAcceptance(string(d), slot) }

// RemoveAcceptance is RemoveAcceptance(d, slot).
func (d Dir) RemoveAcceptance(slot string) error { return RemoveAcceptance(string(d), slot) }
