from libs.contracts.runtime.service import run

run("geocoder", "services.geocoder.app")
