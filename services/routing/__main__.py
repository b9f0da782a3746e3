from services.routing import SERVICE
from services.routing.app import create_app
from services.routing.settings import RoutingSettings
from shared.runtime.http import serve
from shared.runtime.logs import configure_logging

configure_logging(SERVICE)
settings = RoutingSettings()
serve(create_app(settings), settings)
