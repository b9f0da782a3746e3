from services.intake import SERVICE
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.runtime.http import serve
from shared.runtime.logs import configure_logging

configure_logging(SERVICE)
settings = IntakeSettings()
serve(create_app(settings), settings)
