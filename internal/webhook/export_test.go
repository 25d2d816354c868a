package webhook

// OutboxLockKey lets the tests hold the outbox's ordering lock.
const OutboxLockKey = outboxLockKey
