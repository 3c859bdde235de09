package webhook

// MaxID is the longest alert id Split leaves room for.
const MaxID = maxID
