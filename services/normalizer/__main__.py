from libs.runtime.service import run

run("normalizer", "services.normalizer.app")
