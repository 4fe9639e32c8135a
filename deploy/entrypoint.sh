#!/bin/sh
set -e
case "$1" in
  crawler|normalizer|geocoder|indexer|gateway) exec python -m "services.$1" ;;
  migrate) exec python -m alembic -c /app/alembic.ini upgrade head ;;
  reindex) exec python -m services.indexer.reindex ;;
  topics) exec python -c "import asyncio, os; from tools.devstack import create_topics; asyncio.run(create_topics(os.environ['KAFKA_BOOTSTRAP'], apply_configs=True))" ;;
  *) exec "$@" ;;
esac
