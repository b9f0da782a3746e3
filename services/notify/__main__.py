from services.notify import SERVICE
from services.notify.app import create_app
from services.notify.settings import NotifySettings
from shared.runtime.http import serve
from shared.runtime.logs import configure_logging

configure_logging(SERVICE)
settings = NotifySettings()
serve(create_app(settings), settings)
