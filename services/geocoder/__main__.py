from libs.runtime.service import run

run("geocoder", "services.geocoder.app")
