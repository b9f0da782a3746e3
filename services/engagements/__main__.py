from services.engagements.app import create_app
from services.engagements.settings import EngagementsSettings
from shared.runtime.service import configure_logging, serve

configure_logging("engagements")
settings = EngagementsSettings()
serve(create_app(settings), settings)
