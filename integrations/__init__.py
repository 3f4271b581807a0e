"""Provider adapters (Stripe, Plaid, RingCentral, Google, email), each behind a small interface."""
