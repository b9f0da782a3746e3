from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.runtime.http import serve
from shared.runtime.logs import configure_logging

configure_logging("intake")
settings = IntakeSettings()
serve(create_app(settings), settings)
