from services.notify.app import create_app
from services.notify.settings import NotifySettings
from shared.runtime.service import configure_logging, serve

configure_logging("notify")
settings = NotifySettings()
serve(create_app(settings), settings)
