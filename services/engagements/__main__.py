from services.engagements.app import create_app
from shared.service import configure_logging, serve
from shared.settings import ServiceSettings

configure_logging("engagements")
settings = ServiceSettings()
serve(create_app(settings), settings)
