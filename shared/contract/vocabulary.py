"""Vocabularies the program uses: agency types, CRI-TAC topic areas, delivery modes, tiers.

The CRI-TAC topic list follows the program's public catalog (general, sheriff and tribal topics); it is kept
here, in the contract, because requests, routing policy and notifications all name topics.
"""

from enum import StrEnum


class AgencyType(StrEnum):
    STATE = "state"
    LOCAL = "local"
    TERRITORIAL = "territorial"
    CAMPUS = "campus"
    TRIBAL = "tribal"


class Tier(StrEnum):
    CRI_TAC = "cri_tac"
    CRITICAL_RESPONSE = "critical_response"
    ORGANIZATIONAL_ASSESSMENT = "organizational_assessment"


class TopicArea(StrEnum):
    # General topics; the first five are the most requested.
    DE_ESCALATION = "de_escalation"
    ACTIVE_SHOOTER_RESPONSE = "active_shooter_response"
    INTELLIGENCE_INFORMATION_SHARING = "intelligence_information_sharing"
    PUBLIC_SECTOR_PARTNERSHIPS = "public_sector_partnerships"
    OFFICER_SAFETY_AND_WELLNESS = "officer_safety_and_wellness"
    SCHOOL_SAFETY = "school_safety"
    CRISIS_INTERVENTION = "crisis_intervention"
    GUN_VIOLENCE = "gun_violence"
    COMMUNITY_ENGAGEMENT = "community_engagement"
    HATE_CRIMES = "hate_crimes"
    RECRUITMENT_AND_RETENTION = "recruitment_and_retention"
    POLICY_DEVELOPMENT = "policy_development"
    USE_OF_FORCE = "use_of_force"
    BODY_WORN_CAMERAS = "body_worn_cameras"
    CRIME_ANALYSIS = "crime_analysis"
    DATA_DRIVEN_POLICING = "data_driven_policing"
    DIVERSITY_EQUITY_INCLUSION = "diversity_equity_inclusion"
    EARLY_INTERVENTION_SYSTEMS = "early_intervention_systems"
    FIELD_TRAINING = "field_training"
    HUMAN_TRAFFICKING = "human_trafficking"
    INTERNAL_AFFAIRS = "internal_affairs"
    LEADERSHIP_DEVELOPMENT = "leadership_development"
    MASS_DEMONSTRATIONS = "mass_demonstrations"
    MENTAL_HEALTH_RESPONSE = "mental_health_response"
    OPIOIDS_AND_SUBSTANCE_USE = "opioids_and_substance_use"
    PROCEDURAL_JUSTICE = "procedural_justice"
    SEXUAL_ASSAULT_INVESTIGATIONS = "sexual_assault_investigations"
    TACTICAL_OPERATIONS = "tactical_operations"
    TRAINING_STANDARDS = "training_standards"
    VICTIM_SERVICES = "victim_services"
    VIOLENT_CRIME_REDUCTION = "violent_crime_reduction"
    CAMPUS_SAFETY = "campus_safety"
    # Sheriff topics.
    JAIL_OPERATIONS = "jail_operations"
    COURT_SECURITY = "court_security"
    RURAL_POLICING = "rural_policing"
    # Tribal topics.
    TRIBAL_JURISDICTION = "tribal_jurisdiction"
    MISSING_AND_MURDERED_INDIGENOUS_PERSONS = "missing_and_murdered_indigenous_persons"
    TRIBAL_COMMUNITY_POLICING = "tribal_community_policing"


class DeliveryMode(StrEnum):
    WEB_TRAINING = "web_training"
    IN_PERSON_TRAINING = "in_person_training"
    VIRTUAL_COACHING = "virtual_coaching"
    FACILITATION = "facilitation"
    ON_SITE_CONSULTATION = "on_site_consultation"
    RESOURCE_REFERRAL = "resource_referral"


class CriticalAssistance(StrEnum):
    """Kinds of Critical Response help."""

    AFTER_ACTION_REVIEW = "after_action_review"
    TARGETED_ASSISTANCE = "targeted_assistance"
    PEER_EXCHANGE = "peer_exchange"
    FACILITATED_DISCUSSION = "facilitated_discussion"
    CONFIDENTIAL_CONSULTATION = "confidential_consultation"
    DATA_ANALYSIS = "data_analysis"


class SystemicIssue(StrEnum):
    COMMUNITY_TRUST = "community_trust"
    USE_OF_FORCE_PATTERNS = "use_of_force_patterns"
    STOPS_SEARCHES_ARRESTS = "stops_searches_arrests"
    ACCOUNTABILITY_AND_DISCIPLINE = "accountability_and_discipline"
    BIAS_AND_DISPARITIES = "bias_and_disparities"
    ORGANIZATIONAL_CULTURE = "organizational_culture"
    STAFFING_AND_DEPLOYMENT = "staffing_and_deployment"


class Urgency(StrEnum):
    ROUTINE = "routine"
    PRIORITY = "priority"
    URGENT = "urgent"


# USPS codes of the states, DC and the territories; an ORI's first two characters are one of these.
STATES_AND_TERRITORIES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR GU VI AS MP".split()
)
