from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.runtime.service import configure_logging, serve

configure_logging("intake")
settings = IntakeSettings()
serve(create_app(settings), settings)
