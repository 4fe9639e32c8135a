#!/bin/sh
# One-shot, once the broker answers (compose service `kafka-acls`): what each service may do.
# A service writes only its own topics and reads only its inputs, with its consumer groups;
# tests/unit/test_deploy_security.py checks these lines against the code (as for the KafkaUsers).
set -eu
acl() { user=$1; shift; /opt/kafka/bin/kafka-acls.sh --bootstrap-server kafka:9093 \
        --command-config /kafka-secrets/admin.properties --add --allow-principal "User:$user" "$@" >/dev/null; }

acl carrefour-crawler --topic crawl.partners.v1 --operation Describe --operation Write
acl carrefour-crawler --topic crawl.preview_requests.v1 --operation Describe --operation Read
acl carrefour-crawler --topic crawl.previews.v1 --operation Describe --operation Write
acl carrefour-crawler --topic crawl.records.v1 --operation Describe --operation Write
acl carrefour-crawler --topic deadletter.v1 --operation Describe --operation Write
acl carrefour-crawler --group crawler-preview --operation Read
acl carrefour-normalizer --topic crawl.records.v1 --operation Describe --operation Read
acl carrefour-normalizer --topic deadletter.v1 --operation Describe --operation Write
acl carrefour-normalizer --topic partner.ingest.v1 --operation Describe --operation Read
acl carrefour-normalizer --topic projects.normalized.v1 --operation Describe --operation Write
acl carrefour-normalizer --group normalizer --operation Read
acl carrefour-geocoder --topic deadletter.v1 --operation Describe --operation Write
acl carrefour-geocoder --topic projects.geocoded.v1 --operation Describe --operation Write
acl carrefour-geocoder --topic projects.normalized.v1 --operation Describe --operation Read
acl carrefour-geocoder --group geocoder --operation Read
acl carrefour-indexer --topic deadletter.v1 --operation Describe --operation Write
acl carrefour-indexer --topic dedup.overrides.v1 --operation Describe --operation Read
acl carrefour-indexer --topic dedup.pairs.v1 --operation Describe --operation Write
acl carrefour-indexer --topic projects.canonical.v1 --operation Describe --operation Read --operation Write
acl carrefour-indexer --topic projects.geocoded.v1 --operation Describe --operation Read
acl carrefour-indexer --topic projects.holder_edits.v1 --operation Describe --operation Read
acl carrefour-indexer --group indexer-dedup --operation Read
acl carrefour-indexer --group indexer-dedup-overrides --operation Read
acl carrefour-indexer --group indexer-holder-edits --operation Read
acl carrefour-indexer --group indexer-search --operation Read
acl carrefour-gateway --topic crawl.partners.v1 --operation Describe --operation Read
acl carrefour-gateway --topic crawl.preview_requests.v1 --operation Describe --operation Write
acl carrefour-gateway --topic crawl.previews.v1 --operation Describe --operation Read
acl carrefour-gateway --topic deadletter.v1 --operation Describe --operation Write
acl carrefour-gateway --topic dedup.overrides.v1 --operation Describe --operation Write
acl carrefour-gateway --topic dedup.pairs.v1 --operation Describe --operation Read
acl carrefour-gateway --topic matchmaking.v1 --operation Describe --operation Read --operation Write
acl carrefour-gateway --topic partner.ingest.v1 --operation Describe --operation Write
acl carrefour-gateway --topic projects.canonical.v1 --operation Describe --operation Read
acl carrefour-gateway --topic projects.holder_edits.v1 --operation Describe --operation Write
acl carrefour-gateway --group gateway-alerts --operation Read
acl carrefour-gateway --group gateway-alerts-posts --operation Read
acl carrefour-gateway --group gateway-dedup-pairs --operation Read
acl carrefour-gateway --group gateway-partners --operation Read
acl carrefour-gateway --group gateway-previews --operation Read
echo "ACLs set"
