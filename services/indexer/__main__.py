from libs.contracts.runtime.service import run

run("indexer", "services.indexer.app")
