"""Carrefour contracts: event schemas, topic names, taxonomy, search document — and the small
runtime (settings, logging, consumer loop) every service uses to speak them. The only code
services share."""
