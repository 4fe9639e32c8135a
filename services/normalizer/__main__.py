from libs.contracts.runtime.service import run

run("normalizer", "services.normalizer.app")
