"""Agency profiles: the kinds of agency a provider serves best (`serves_best` in the registry), derived from the
request's agency by the policy's thresholds."""

from enum import StrEnum

from services.routing.domain.policy import Policy
from shared.contract.requests import Agency
from shared.contract.vocabulary import AgencyType


class AgencyProfile(StrEnum):
    """Kinds of agency a provider serves best; derived from the request by `agency_profiles`."""

    CAMPUS = "campus"
    SHERIFF = "sheriff"
    LARGE_CITY = "large_city"
    LARGE_COUNTY = "large_county"
    SMALL_AGENCY = "small_agency"
    TRIBAL = "tribal"
    STATE_AGENCY = "state_agency"


def agency_profiles(agency: Agency, policy: Policy) -> set[AgencyProfile]:
    limits = policy.agency_profiles
    profiles = set()
    if agency.type == AgencyType.CAMPUS:
        profiles.add(AgencyProfile.CAMPUS)
    if agency.type == AgencyType.TRIBAL:
        profiles.add(AgencyProfile.TRIBAL)
    if agency.type == AgencyType.STATE:
        profiles.add(AgencyProfile.STATE_AGENCY)
    if agency.sheriff_office:
        profiles.add(AgencyProfile.SHERIFF)
        if agency.sworn_officers >= limits.large_county_min_sworn:
            profiles.add(AgencyProfile.LARGE_COUNTY)
    elif agency.type == AgencyType.LOCAL and (
        agency.population_served >= limits.large_city_min_population
        or agency.sworn_officers >= limits.large_city_min_sworn
    ):
        profiles.add(AgencyProfile.LARGE_CITY)
    if agency.sworn_officers < limits.small_agency_below_sworn:
        profiles.add(AgencyProfile.SMALL_AGENCY)
    return profiles
