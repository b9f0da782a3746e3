from services.engagements import SERVICE
from services.engagements.app import create_app
from services.engagements.settings import EngagementsSettings
from shared.runtime.http import serve
from shared.runtime.logs import configure_logging

configure_logging(SERVICE)
settings = EngagementsSettings()
serve(create_app(settings), settings)
