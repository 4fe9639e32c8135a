#!/bin/sh
# One-shot, before the broker (compose service `kafka-setup`, apache/kafka image): a CA and the
# broker's TLS certificate (for the names kafka and localhost), the SCRAM-SHA-512 users written
# into the KRaft storage as it is formatted, and the admin client's properties. Idempotent: an
# existing CA, certificate or formatted storage is kept (add a user later with kafka-configs.sh).
set -eu
: "${KAFKA_CLUSTER_ID:?}" "${KAFKA_KEYSTORE_PASSWORD:?}" "${KAFKA_ADMIN_PASSWORD:?}"
SECRETS=/kafka-secrets   # broker keystore, client truststore, admin.properties (kafka containers only)
CA=/kafka-ca             # ca.crt only (mounted read-only by the Carrefour services)
P="$KAFKA_KEYSTORE_PASSWORD"
cd "$SECRETS"
if [ ! -f ca.p12 ]; then
  keytool -genkeypair -alias ca -dname CN=carrefour-kafka-ca -ext bc:c -keyalg RSA -keysize 3072 -validity 3650 \
          -keystore ca.p12 -storetype PKCS12 -storepass "$P"
fi
keytool -exportcert -rfc -alias ca -keystore ca.p12 -storepass "$P" > "$CA/ca.crt"
if [ ! -f kafka.p12 ]; then
  keytool -genkeypair -alias kafka -dname CN=kafka -keyalg RSA -keysize 3072 -validity 825 \
          -keystore kafka.p12 -storetype PKCS12 -storepass "$P"
  keytool -certreq -alias kafka -keystore kafka.p12 -storepass "$P" \
    | keytool -gencert -alias ca -keystore ca.p12 -storepass "$P" -validity 825 -rfc \
              -ext SAN=dns:kafka,dns:localhost -ext KU=digitalSignature,keyEncipherment -ext EKU=serverAuth > kafka.crt
  keytool -importcert -noprompt -alias ca -file "$CA/ca.crt" -keystore kafka.p12 -storepass "$P"
  keytool -importcert -alias kafka -file kafka.crt -keystore kafka.p12 -storepass "$P"
  keytool -importcert -noprompt -alias ca -file "$CA/ca.crt" -keystore truststore.p12 -storetype PKCS12 -storepass "$P"
fi
cat > admin.properties <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD";
ssl.truststore.type=PKCS12
ssl.truststore.location=$SECRETS/truststore.p12
ssl.truststore.password=$P
PROPS
chmod 600 admin.properties ca.p12 kafka.p12
chown -R 1000:1000 "$SECRETS" /var/lib/kafka/data 2>/dev/null || true
cat > /tmp/format.properties <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9094
controller.listener.names=CONTROLLER
listeners=SASL_SSL://:9093,CONTROLLER://localhost:9094
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=/var/lib/kafka/data
PROPS
scram() { echo "SCRAM-SHA-512=[name=$1,password=$2]"; }
/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$KAFKA_CLUSTER_ID" -c /tmp/format.properties \
  --add-scram "$(scram admin "$KAFKA_ADMIN_PASSWORD")" \
  --add-scram "$(scram carrefour-crawler "${KAFKA_CRAWLER_PASSWORD:?}")" \
  --add-scram "$(scram carrefour-normalizer "${KAFKA_NORMALIZER_PASSWORD:?}")" \
  --add-scram "$(scram carrefour-geocoder "${KAFKA_GEOCODER_PASSWORD:?}")" \
  --add-scram "$(scram carrefour-indexer "${KAFKA_INDEXER_PASSWORD:?}")" \
  --add-scram "$(scram carrefour-gateway "${KAFKA_GATEWAY_PASSWORD:?}")"
