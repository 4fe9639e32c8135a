from libs.runtime.service import run

run("indexer", "services.indexer.app")
