// Package notifier holds what every chat receiver shares, so that the
// receivers in the sub-packages (slack, discord, teams, googlechat,
// mattermost, telegram, webhook; built from configuration by receivers)
// differ only in payload: the Alert/Result/Sender contract, credentials
// read at send time (SecretRef), the URL rule they meet (CheckURL), one
// HTTP exchange and one classification of its outcome (Poster), the
// Redactor every outgoing string passes through, and the wording of alerts
// (Title, Facts, Summary, Actions). Receivers only classify; backoff,
// retries and the event sink live in one place, notifier/outbox.
package notifier
