from services.routing.app import create_app
from services.routing.settings import RoutingSettings
from shared.runtime.service import configure_logging, serve

configure_logging("routing")
settings = RoutingSettings()
serve(create_app(settings), settings)
