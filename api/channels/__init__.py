"""The customer channels: the web chat endpoint and its embeddable widget page (SMS comes with the
RingCentral adapter)."""
